package agent

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	good := tokenHash("a token")
	tests := []struct {
		name  string
		cfg   Config
		items []string // each problem names its item
	}{
		{"empty is fine", Config{}, nil},
		{"design example", Config{
			AllowCIDRs:     []string{"10.0.0.0/8"},
			APITokens:      []APIToken{{Name: "helpdesk-bot", SHA256: good}},
			TrustedProxies: []string{"10.0.0.5/32", "2001:db8::1"},
		}, nil},
		{"bad cidrs", Config{AllowCIDRs: []string{"10.0.0.0/8", "10.0.0.0/33", "office"}, TrustedProxies: []string{"1.2.3"}},
			[]string{"agents.allow_cidrs[1]", "agents.allow_cidrs[2]", "agents.trusted_proxies[0]"}},
		{"tokens", Config{APITokens: []APIToken{
			{Name: "bot", SHA256: good},
			{Name: "bot", SHA256: good},
			{Name: "", SHA256: good},
			{Name: "short", SHA256: "9f86d0"},
			{Name: "not hex", SHA256: strings.Repeat("zz", 32)},
			{Name: "empty token", SHA256: tokenHash("")},
		}}, []string{`agents.api_tokens[1] "bot": name`, "agents.api_tokens[2]: name: required", `agents.api_tokens[3] "short": sha256`,
			`agents.api_tokens[4] "not hex": sha256`, `agents.api_tokens[5] "empty token": sha256`}},
		{"header and durations", Config{IdentityHeader: "X User", IdleTimeout: -time.Second, SessionLife: -time.Second},
			[]string{"agents.identity_header", "agents.idle_timeout", "agents.session_lifetime"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.items) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var joined interface{ Unwrap() []error }
			if !errors.As(err, &joined) {
				t.Fatalf("Validate = %v, want joined errors", err)
			}
			errs := joined.Unwrap()
			if len(errs) != len(tt.items) {
				t.Fatalf("%d problems, want %d: %v", len(errs), len(tt.items), err)
			}
			for i, item := range tt.items {
				if !strings.HasPrefix(errs[i].Error(), item) {
					t.Errorf("problem %d = %q, want it to start with %q", i, errs[i], item)
				}
			}
			if _, nerr := New(tt.cfg, nil, nil, Options{}); nerr == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}
