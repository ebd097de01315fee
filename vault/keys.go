package vault

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/aead/subtle"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// KeysetFile is the name of the encrypted Tink keyset in the data
// directory.
const KeysetFile = "vault.keyset"

// keysetAD binds the keyset file to its purpose.
var keysetAD = []byte("veil/v1/keyset")

// keyring holds the record keyset (decrypted, in memory only) and the AEAD
// built from it. The keyset file on disk is encrypted under the master key.
type keyring struct {
	path   string
	master tink.AEAD // AES-256-GCM from the master key; opens the keyset file

	mu     sync.RWMutex
	handle *keyset.Handle
	aead   tink.AEAD
}

func newMasterAEAD(masterKey []byte) (tink.AEAD, error) {
	if len(masterKey) != MasterKeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d; %s", ErrBadMasterKey, len(masterKey), MasterKeySize, masterKeyHelp)
	}
	a, err := subtle.NewAESGCM(masterKey)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	return a, nil
}

// loadOrCreateKeyring opens the keyset file in dir, creating it when create
// is true and no file exists.
func loadOrCreateKeyring(dir string, masterKey []byte, create bool) (*keyring, bool, error) {
	master, err := newMasterAEAD(masterKey)
	if err != nil {
		return nil, false, err
	}
	k := &keyring{path: filepath.Join(dir, KeysetFile), master: master}
	err = k.load()
	if err == nil {
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) || !create {
		return nil, false, err
	}
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, false, fmt.Errorf("creating keyset: %w", err)
	}
	if err := k.store(h); err != nil {
		return nil, false, err
	}
	if err := k.set(h); err != nil {
		return nil, false, err
	}
	return k, true, nil
}

func (k *keyring) load() error {
	data, err := os.ReadFile(k.path)
	if err != nil {
		return fmt.Errorf("reading keyset: %w", err)
	}
	h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(data)), k.master, keysetAD)
	if err != nil {
		return fmt.Errorf("%w: the keyset in %s does not open with this master key (wrong key, or a damaged file)", ErrBadMasterKey, filepath.Base(k.path))
	}
	return k.set(h)
}

func (k *keyring) set(h *keyset.Handle) error {
	a, err := aead.New(h)
	if err != nil {
		return fmt.Errorf("keyset primitive: %w", err)
	}
	k.mu.Lock()
	k.handle, k.aead = h, a
	k.mu.Unlock()
	return nil
}

// store writes h encrypted under the master key, atomically: a temporary
// file, fsync, rename, fsync of the directory.
func (k *keyring) store(h *keyset.Handle) error {
	var buf bytes.Buffer
	if err := h.WriteWithAssociatedData(keyset.NewBinaryWriter(&buf), k.master, keysetAD); err != nil {
		return fmt.Errorf("encrypting keyset: %w", err)
	}
	return writeFileAtomic(k.path, buf.Bytes())
}

// rotate adds a new AES-256-GCM key as primary. Old keys stay in the keyset
// so that existing records still open.
func (k *keyring) rotate() error {
	// Start from the file, not memory, so that a key another process added
	// is never dropped.
	if err := k.load(); err != nil {
		return err
	}
	k.mu.RLock()
	h := k.handle
	k.mu.RUnlock()
	m := keyset.NewManagerFromHandle(h)
	id, err := m.Add(aead.AES256GCMKeyTemplate())
	if err != nil {
		return fmt.Errorf("adding key: %w", err)
	}
	if err := m.SetPrimary(id); err != nil {
		return fmt.Errorf("setting primary: %w", err)
	}
	nh, err := m.Handle()
	if err != nil {
		return fmt.Errorf("rotated keyset: %w", err)
	}
	if err := k.store(nh); err != nil {
		return err
	}
	return k.set(nh)
}

func (k *keyring) keys() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.handle.Len()
}

func (k *keyring) encrypt(plaintext, ad []byte) ([]byte, error) {
	k.mu.RLock()
	a := k.aead
	k.mu.RUnlock()
	return a.Encrypt(plaintext, ad)
}

// decrypt opens ciphertext; when that fails it reloads the keyset file once
// in case another process (veil vault rotate-key) added a key.
func (k *keyring) decrypt(ciphertext, ad []byte) ([]byte, error) {
	k.mu.RLock()
	a := k.aead
	k.mu.RUnlock()
	pt, err := a.Decrypt(ciphertext, ad)
	if err == nil {
		return pt, nil
	}
	if k.load() != nil {
		return nil, errors.New("decryption failed")
	}
	k.mu.RLock()
	a = k.aead
	k.mu.RUnlock()
	pt, err = a.Decrypt(ciphertext, ad)
	if err != nil {
		return nil, errors.New("decryption failed")
	}
	return pt, nil
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing keyset: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("writing keyset: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing keyset: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing keyset: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing keyset: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing keyset: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("writing keyset: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("writing keyset: %w", err)
	}
	return nil
}

// innerAEAD derives the per-record key from a link secret: HKDF-SHA256 over
// the secret, bound to the record id and kind, then AES-256-GCM. The secret
// lives only in the link; the database holds a hash of the link.
func innerAEAD(secret []byte, ad []byte) (tink.AEAD, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, "veil/v1/inner|"+string(ad), 32)
	if err != nil {
		return nil, fmt.Errorf("deriving record key: %w", err)
	}
	a, err := subtle.NewAESGCM(key)
	clear(key)
	if err != nil {
		return nil, fmt.Errorf("record key: %w", err)
	}
	return a, nil
}

// auditKey derives the key of the audit chain's MAC from the master key.
func auditKey(masterKey []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, masterKey, nil, "veil/v1/audit-chain", 32)
}
