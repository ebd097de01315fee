package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Defaults for the agents: section.
const (
	DefaultIdentityHeader = "X-Forwarded-User"
	DefaultIdleTimeout    = 15 * time.Minute
	DefaultSessionLife    = 12 * time.Hour
)

// Config is the agents: section of the config file.
//
// An empty AllowCIDRs allows agents from every address; list the networks
// agents work from to close the agent endpoints to everyone else. A bare
// address ("10.0.0.5") means that one address.
type Config struct {
	AllowCIDRs     []string      `yaml:"allow_cidrs"`
	APITokens      []APIToken    `yaml:"api_tokens"`
	TrustedProxies []string      `yaml:"trusted_proxies"`
	IdentityHeader string        `yaml:"identity_header"`  // default X-Forwarded-User
	IdleTimeout    time.Duration `yaml:"idle_timeout"`     // default 15m
	SessionLife    time.Duration `yaml:"session_lifetime"` // default 12h: a session ends then, however active
}

// APIToken is an agent API token, stored as the hex SHA-256 of the token.
type APIToken struct {
	Name   string `yaml:"name"`
	SHA256 string `yaml:"sha256"`
}

// Validate reports every problem in c at once, each naming its item.
func (c Config) Validate() error {
	var errs []error
	for i, s := range c.AllowCIDRs {
		if _, err := parsePrefix(s); err != nil {
			errs = append(errs, fmt.Errorf("agents.allow_cidrs[%d]: %w", i, err))
		}
	}
	for i, s := range c.TrustedProxies {
		if _, err := parsePrefix(s); err != nil {
			errs = append(errs, fmt.Errorf("agents.trusted_proxies[%d]: %w", i, err))
		}
	}
	names := make(map[string]int, len(c.APITokens))
	for i, t := range c.APITokens {
		item := fmt.Sprintf("agents.api_tokens[%d]", i)
		if t.Name != "" {
			item = fmt.Sprintf("agents.api_tokens[%d] %q", i, t.Name)
		}
		switch strings.TrimSpace(t.Name) {
		case "":
			errs = append(errs, fmt.Errorf("%s: name: required", item))
		default:
			if first, dup := names[t.Name]; dup {
				errs = append(errs, fmt.Errorf("%s: name: already used by agents.api_tokens[%d]", item, first))
			} else {
				names[t.Name] = i
			}
		}
		if h, err := parseTokenHash(t.SHA256); err != nil {
			errs = append(errs, fmt.Errorf("%s: sha256: %w", item, err))
		} else if h == sha256.Sum256(nil) {
			errs = append(errs, fmt.Errorf("%s: sha256: is the hash of an empty token", item))
		}
	}
	if c.IdentityHeader != "" && !validHeaderName(c.IdentityHeader) {
		errs = append(errs, fmt.Errorf("agents.identity_header: %q is not a valid header name", c.IdentityHeader))
	}
	if c.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("agents.idle_timeout: must not be negative"))
	}
	if c.SessionLife < 0 {
		errs = append(errs, fmt.Errorf("agents.session_lifetime: must not be negative"))
	}
	return errors.Join(errs...)
}

// withDefaults fills the unset fields.
func (c Config) withDefaults() Config {
	if c.IdentityHeader == "" {
		c.IdentityHeader = DefaultIdentityHeader
	}
	c.IdentityHeader = http.CanonicalHeaderKey(c.IdentityHeader)
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.SessionLife == 0 {
		c.SessionLife = DefaultSessionLife
	}
	return c
}

// parsePrefix accepts a CIDR ("10.0.0.0/8") or a bare address ("10.0.0.5").
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR like 10.0.0.0/8", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR like 10.0.0.0/8 or an address", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parseTokenHash decodes the hex SHA-256 of an API token.
func parseTokenHash(s string) ([32]byte, error) {
	var h [32]byte
	if len(s) != 64 {
		return h, fmt.Errorf("must be 64 hex characters (the SHA-256 of the token), got %d characters", len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, errors.New("must be 64 hex characters (the SHA-256 of the token)")
	}
	return h, nil
}

// validHeaderName reports whether s is an HTTP header field name (RFC 9110
// token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
