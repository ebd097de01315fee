package vault

import (
	"errors"
	"fmt"
	"time"
)

// Config is the vault: section of the config file.
type Config struct {
	Key       KeySource     `yaml:"key"`
	Retention time.Duration `yaml:"retention"` // default 24h
}

// KeySource names where the master key comes from; the key itself is never
// written in the config file.
type KeySource struct {
	Env  string `yaml:"env"`
	File string `yaml:"file"`
}

// Validate reports every problem in c at once. It never reads the key
// itself: that happens in LoadMasterKey when the vault is opened.
func (c Config) Validate() error {
	var errs []error
	if c.Retention < 0 {
		errs = append(errs, fmt.Errorf("vault.retention: must not be negative"))
	}
	if err := c.Key.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Validate checks that exactly one of env and file is set and that neither
// looks like a key pasted into the config file. The offending text is never
// repeated in the error.
func (k KeySource) Validate() error {
	var errs []error
	switch {
	case k.Env == "" && k.File == "":
		errs = append(errs, errors.New("vault.key: set env (an environment variable name) or file (a path) holding the master key; create one with `veil vault new-master-key`"))
	case k.Env != "" && k.File != "":
		errs = append(errs, errors.New("vault.key: set only one of env and file"))
	}
	if k.Env != "" {
		if looksLikeKey(k.Env) {
			errs = append(errs, errors.New("vault.key.env: must name an environment variable, not hold the key; the key never goes in the config file"))
		} else if !validEnvName(k.Env) {
			errs = append(errs, errors.New("vault.key.env: not a valid environment variable name (letters, digits and _)"))
		}
	}
	if k.File != "" && looksLikeKey(k.File) {
		errs = append(errs, errors.New("vault.key.file: must be a path to a file holding the key, not the key; the key never goes in the config file"))
	}
	return errors.Join(errs...)
}

// looksLikeKey reports whether s decodes as a 32-byte standard base64 key.
func looksLikeKey(s string) bool {
	_, err := parseMasterKey([]byte(s))
	return err == nil
}

func validEnvName(s string) bool {
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != ""
}
