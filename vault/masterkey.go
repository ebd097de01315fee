package vault

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
)

// MasterKeySize is the length of the master key in bytes.
const MasterKeySize = 32

const masterKeyHelp = "the master key must be 32 random bytes in standard base64 (44 characters); create one with `veil vault new-master-key`"

// NewMasterKey returns a fresh master key: 32 random bytes in standard
// base64.
func NewMasterKey() (string, error) {
	b := make([]byte, MasterKeySize)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating master key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// LoadMasterKey reads the master key from the environment variable or file
// ks names. getenv is usually os.Getenv. Errors say what is expected and
// never repeat what was found.
func LoadMasterKey(ks KeySource, getenv func(string) string) ([]byte, error) {
	if err := ks.Validate(); err != nil {
		return nil, err
	}
	var raw []byte
	if ks.Env != "" {
		if getenv == nil {
			getenv = os.Getenv
		}
		v := getenv(ks.Env)
		if v == "" {
			return nil, fmt.Errorf("%w: environment variable %s is empty or unset; %s", ErrNoMasterKey, ks.Env, masterKeyHelp)
		}
		raw = []byte(v)
	} else {
		b, err := os.ReadFile(ks.File)
		if err != nil {
			return nil, fmt.Errorf("%w: reading key file: %w; %s", ErrNoMasterKey, err, masterKeyHelp)
		}
		raw = b
	}
	key, err := parseMasterKey(raw)
	clear(raw)
	if err != nil {
		return nil, err
	}
	return key, nil
}

// parseMasterKey decodes a standard base64 key of exactly 32 bytes,
// ignoring surrounding white space.
func parseMasterKey(raw []byte) ([]byte, error) {
	s := bytes.TrimSpace(raw)
	if len(s) == 0 {
		return nil, fmt.Errorf("%w: empty; %s", ErrNoMasterKey, masterKeyHelp)
	}
	key := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Strict().Decode(key, s)
	if err != nil {
		return nil, fmt.Errorf("%w: not standard base64; %s", ErrBadMasterKey, masterKeyHelp)
	}
	if n != MasterKeySize {
		return nil, fmt.Errorf("%w: decodes to %d bytes, want %d; %s", ErrBadMasterKey, n, MasterKeySize, masterKeyHelp)
	}
	return key[:n], nil
}
