package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/veilproxy/veil/vault"
)

const agentPassword = "violet-harbour-42-lantern"

// runIn runs a veil command with stdin.
func (e *vaultEnv) runIn(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, stdio{In: strings.NewReader(stdin), Out: &out, Err: &errb, Getenv: func(k string) string { return e.env[k] }})
	return code, out.String(), errb.String()
}

func newAgentsEnv(t *testing.T) *vaultEnv {
	t.Helper()
	e := newVaultEnv(t)
	_, key, _ := e.run(t, "vault", "new-master-key")
	e.env["VEIL_TEST_KEY"] = strings.TrimSpace(key)
	return e
}

func TestAgentsAdd(t *testing.T) {
	e := newAgentsEnv(t)
	// No `vault init` first: adding the first account creates the vault.
	code, out, stderr := e.runIn(t, agentPassword+"\n"+agentPassword+"\n", "agents", "add", "alice", "--config", e.config)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(out+stderr, agentPassword) {
		t.Fatal("the password was printed")
	}
	if !strings.Contains(stderr, "Password for alice") || !strings.Contains(stderr, "Password again") {
		t.Errorf("prompts: %q", stderr)
	}
	var otpURL string
	for _, line := range strings.Split(out, "\n") {
		if u, ok := strings.CutPrefix(line, "otpauth URL: "); ok {
			otpURL = u
		}
	}
	key, err := otp.NewKeyFromURL(otpURL)
	if err != nil {
		t.Fatalf("otpauth URL %q: %v", otpURL, err)
	}
	if key.Issuer() != "Veil" || key.AccountName() != "alice" || !strings.Contains(out, "Secret, to type in by hand: "+key.Secret()) {
		t.Errorf("issuer %q account %q; output:\n%s", key.Issuer(), key.AccountName(), out)
	}
	if !strings.Contains(out, "█") && !strings.Contains(out, "▀") {
		t.Error("no QR code in the output")
	}

	v, err := vault.OpenExisting(context.Background(), e.dataDir, e.key(t), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	a, err := v.GetAccount(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.PasswordHash, "$argon2id$v=19$") || strings.Contains(a.PasswordHash, agentPassword) {
		t.Errorf("stored hash %q", a.PasswordHash)
	}
	if string(a.TOTPSecret) != key.Secret() {
		t.Error("stored TOTP secret differs from the printed one")
	}
	now := time.Now()
	c, _ := totp.GenerateCode(key.Secret(), now)
	if !totp.Validate(c, string(a.TOTPSecret)) {
		t.Error("stored secret does not validate the app's code")
	}
}

func TestAgentsAddRefuses(t *testing.T) {
	tests := []struct {
		name, stdin string
		args        []string
		code        int
		msg         string
	}{
		{"short password", "short-pw\nshort-pw\n", []string{"alice"}, 1, "at least 12"},
		{"common password", "password1234\npassword1234\n", []string{"alice"}, 1, "common passwords"},
		{"passwords differ", agentPassword + "\n" + agentPassword + "x\n", []string{"alice"}, 1, "differ"},
		{"no input", "", []string{"alice"}, 1, "no password"},
		{"bad name", agentPassword + "\n" + agentPassword + "\n", []string{"al ice"}, 2, "account names"},
		{"no name", "", nil, 2, "expected 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newAgentsEnv(t)
			args := append([]string{"agents", "add"}, tt.args...)
			args = append(args, "--config", e.config)
			code, out, stderr := e.runIn(t, tt.stdin, args...)
			if code != tt.code || !strings.Contains(stderr, tt.msg) {
				t.Fatalf("exit %d (want %d), stderr %q", code, tt.code, stderr)
			}
			for _, pw := range strings.Split(strings.TrimSpace(tt.stdin), "\n") {
				if pw != "" && strings.Contains(out+stderr, pw) {
					t.Errorf("password echoed")
				}
			}
		})
	}
}

func TestAgentsListRemove(t *testing.T) {
	e := newAgentsEnv(t)
	for _, n := range []string{"bob", "alice"} {
		if code, _, stderr := e.runIn(t, agentPassword+"\n"+agentPassword+"\n", "agents", "add", n, "--config", e.config); code != 0 {
			t.Fatalf("add %s: %s", n, stderr)
		}
	}
	if code, _, stderr := e.runIn(t, agentPassword+"\n"+agentPassword+"\n", "agents", "add", "alice", "--config", e.config); code != 1 || !strings.Contains(stderr, "exists") {
		t.Fatalf("second add: exit %d %q", code, stderr)
	}
	code, out, _ := e.run(t, "agents", "list", "--config", e.config)
	if code != 0 || !strings.Contains(out, "alice\n") || !strings.Contains(out, "bob\n") {
		t.Fatalf("list: exit %d %q", code, out)
	}
	if code, _, stderr := e.run(t, "agents", "remove", "--config", e.config, "alice"); code != 0 {
		t.Fatalf("remove: %s", stderr)
	}
	if code, _, stderr := e.run(t, "agents", "remove", "alice", "--config", e.config); code != 1 || !strings.Contains(stderr, "no account") {
		t.Fatalf("second remove: exit %d %q", code, stderr)
	}
	v, err := vault.OpenExisting(context.Background(), e.dataDir, e.key(t), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.GetAccount(context.Background(), "alice"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("alice after remove: %v", err)
	}
	if code, _, _ := e.run(t, "agents", "frobnicate"); code != 2 {
		t.Fatalf("unknown subcommand: exit %d", code)
	}
}
