package agent

import "time"

// Config is the agents: section of the config file.
type Config struct {
	AllowCIDRs     []string      `yaml:"allow_cidrs"`
	APITokens      []APIToken    `yaml:"api_tokens"`
	TrustedProxies []string      `yaml:"trusted_proxies"`
	IdentityHeader string        `yaml:"identity_header"` // default X-Forwarded-User
	IdleTimeout    time.Duration `yaml:"idle_timeout"`    // default 15m
}

// APIToken is an agent API token, stored as the hex SHA-256 of the token.
type APIToken struct {
	Name   string `yaml:"name"`
	SHA256 string `yaml:"sha256"`
}

// Validate reports every problem in c at once.
func (c Config) Validate() error { return nil }
