package vault

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// DefaultRetention is how long a record lives when neither the record nor
// the vault says otherwise.
const DefaultRetention = 24 * time.Hour

// Options tune a Vault. The zero value is usable.
type Options struct {
	// Retention is how long records live when NewRecord.TTL is 0; 0 means
	// DefaultRetention.
	Retention time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives record ids, events and outcomes, never values or
	// tokens; nil discards.
	Logger *slog.Logger
}

// Vault is the encrypted record store. It is safe for concurrent use. Every
// write goes through one SQLite connection in an immediate transaction;
// reads use a small pool.
type Vault struct {
	dir       string
	w, r      *sql.DB
	keys      *keyring
	auditKey  []byte
	retention time.Duration
	now       func() time.Time
	log       *slog.Logger
}

var canaryAD = []byte("veil/v1/canary")

// Open opens (creating on first use) dir/vault.db and the encrypted keyset
// dir/vault.keyset. masterKey is the 32-byte key from LoadMasterKey. Open
// refuses a master key that does not open an existing keyset, and a
// database whose keyset file is missing.
func Open(ctx context.Context, dir string, masterKey []byte, opts Options) (*Vault, error) {
	v, _, err := open(ctx, dir, masterKey, opts, true)
	return v, err
}

// OpenExisting is Open without creating a keyset: it fails with
// fs.ErrNotExist in the chain when dir holds no keyset yet. Commands that
// only inspect a vault use it.
func OpenExisting(ctx context.Context, dir string, masterKey []byte, opts Options) (*Vault, error) {
	v, _, err := open(ctx, dir, masterKey, opts, false)
	return v, err
}

// Init creates the keyset and database in dir if they do not exist yet and
// reports whether it created the keyset.
func Init(ctx context.Context, dir string, masterKey []byte, opts Options) (created bool, err error) {
	v, created, err := open(ctx, dir, masterKey, opts, true)
	if err != nil {
		return false, err
	}
	return created, v.Close()
}

func open(ctx context.Context, dir string, masterKey []byte, opts Options, create bool) (*Vault, bool, error) {
	if len(masterKey) != MasterKeySize {
		return nil, false, fmt.Errorf("opening vault: %w: %s", ErrBadMasterKey, masterKeyHelp)
	}
	if dir == "" {
		return nil, false, errors.New("opening vault: no data directory")
	}
	if opts.Retention < 0 {
		return nil, false, errors.New("opening vault: negative retention")
	}
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, false, fmt.Errorf("opening vault: %w", err)
		}
	}
	v := &Vault{dir: dir, retention: opts.Retention, now: opts.Now, log: opts.Logger}
	if v.retention == 0 {
		v.retention = DefaultRetention
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if !create {
		if _, err := os.Stat(filepath.Join(dir, KeysetFile)); err != nil {
			return nil, false, fmt.Errorf("opening vault: no keyset in %s (run `veil vault init`): %w", dir, err)
		}
	}
	w, r, err := openDB(ctx, filepath.Join(dir, DBFile))
	if err != nil {
		return nil, false, fmt.Errorf("opening vault: %w", err)
	}
	v.w, v.r = w, r
	fail := func(err error) (*Vault, bool, error) {
		v.w.Close()
		v.r.Close()
		return nil, false, fmt.Errorf("opening vault: %w", err)
	}
	var canary []byte
	err = v.r.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = 'canary'`).Scan(&canary)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fail(err)
	}
	hasCanary := err == nil
	if hasCanary {
		if _, err := os.Stat(filepath.Join(dir, KeysetFile)); err != nil {
			return fail(fmt.Errorf("the database was sealed with a keyset that is missing (%s): restore it from backup; without it no record opens: %w", KeysetFile, err))
		}
	}
	keys, created, err := loadOrCreateKeyring(dir, masterKey, create && !hasCanary)
	if err != nil {
		return fail(err)
	}
	v.keys = keys
	if hasCanary {
		if _, err := keys.decrypt(canary, canaryAD); err != nil {
			return fail(fmt.Errorf("%w: the keyset does not belong to this database", ErrBadMasterKey))
		}
	} else {
		c, err := keys.encrypt([]byte("veil"), canaryAD)
		if err != nil {
			return fail(err)
		}
		if _, err := v.w.ExecContext(ctx, `INSERT INTO meta (k, v) VALUES ('canary', ?)`, c); err != nil {
			return fail(storageErr(err))
		}
	}
	if v.auditKey, err = auditKey(masterKey); err != nil {
		return fail(err)
	}
	if created {
		v.log.Info("vault keyset created", "dir", dir)
	}
	return v, created, nil
}

// Close closes the database. Records stay on disk, sealed.
func (v *Vault) Close() error {
	clear(v.auditKey)
	return errors.Join(v.w.Close(), v.r.Close())
}

// Check reports whether a write transaction works (for readiness probes).
func (v *Vault) Check(ctx context.Context) error {
	err := v.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO meta (k, v) VALUES ('check', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`,
			[]byte(v.now().UTC().Format(time.RFC3339Nano)))
		return err
	})
	if err != nil {
		return fmt.Errorf("vault check: %w", err)
	}
	return nil
}

// RotateKey adds a new primary key to the keyset and rewrites the keyset
// file atomically. Records sealed under older keys stay readable. A serving
// process that did not rotate picks up the new key the first time it meets
// a record sealed under it.
func (v *Vault) RotateKey(ctx context.Context) error {
	if err := v.keys.rotate(); err != nil {
		_ = v.Audit(ctx, AuditEvent{Actor: "operator", Event: "key.rotate", Outcome: "error"})
		return fmt.Errorf("rotating key: %w", err)
	}
	v.log.Info("vault key rotated", "keys", v.keys.keys())
	return v.Audit(ctx, AuditEvent{Actor: "operator", Event: "key.rotate", Outcome: "ok"})
}

// writeTx runs fn in an immediate transaction on the single writer
// connection and commits it. Storage failures carry ErrStorage.
func (v *Vault) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := v.w.BeginTx(ctx, nil)
	if err != nil {
		return storageErr(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return storageErr(err)
	}
	if err := tx.Commit(); err != nil {
		return storageErr(err)
	}
	return nil
}

// checkpoint moves the WAL into the database and truncates it, so that
// deleted pages do not linger in vault.db-wal.
func (v *Vault) checkpoint(ctx context.Context) error {
	var busy, logFrames, done int
	if err := v.w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
		return fmt.Errorf("checkpoint: %w", storageErr(err))
	}
	if busy != 0 {
		v.log.Warn("vault checkpoint incomplete: readers busy; it runs again after the next purge")
		return errors.New("checkpoint: readers busy")
	}
	return nil
}

// newToken returns a fresh 256-bit secret and its URL-safe form.
func newToken() (secret []byte, token string, err error) {
	secret = make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, "", fmt.Errorf("generating token: %w", err)
	}
	return secret, base64.RawURLEncoding.EncodeToString(secret), nil
}

// tokenHash is what the database keeps of a token.
func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte("veil/v1/token|" + token))
	return h[:]
}

// tokenSecret decodes a token; ok is false for anything that is not one.
func tokenSecret(token string) ([]byte, bool) {
	if len(token) != 43 {
		return nil, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) != 32 {
		return nil, false
	}
	return b, true
}

func newRecordID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating record id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// recordAD binds a ciphertext to its record and kind (and part).
func recordAD(kind, id, part string) []byte {
	return []byte("veil/v1|" + kind + "|" + id + "|" + part)
}
