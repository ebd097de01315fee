package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veilproxy/veil/vault"
)

// vaultEnv is a config file in a temporary directory whose master key
// comes from the environment variable VEIL_TEST_KEY.
type vaultEnv struct {
	dir, config, dataDir string
	env                  map[string]string
}

func newVaultEnv(t *testing.T) *vaultEnv {
	t.Helper()
	dir := t.TempDir()
	e := &vaultEnv{dir: dir, config: filepath.Join(dir, "veil.yaml"), dataDir: filepath.Join(dir, "data"), env: map[string]string{}}
	cfg := "upstream: \"http://127.0.0.1:9000\"\ntls: {mode: \"off\"}\ndata_dir: \"" + e.dataDir + "\"\nvault:\n  key: {env: VEIL_TEST_KEY}\n  retention: 1h\n"
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *vaultEnv) run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, stdio{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return e.env[k] }})
	return code, out.String(), errb.String()
}

func (e *vaultEnv) key(t *testing.T) []byte {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(e.env["VEIL_TEST_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVaultNewMasterKey(t *testing.T) {
	e := newVaultEnv(t)
	code, out, _ := e.run(t, "vault", "new-master-key")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
	if err != nil || len(k) != 32 {
		t.Fatalf("printed %q: %d bytes, %v", out, len(k), err)
	}
	_, out2, _ := e.run(t, "vault", "new-master-key")
	if out2 == out {
		t.Fatal("two keys are the same")
	}
}

func TestVaultInitNeedsMasterKey(t *testing.T) {
	tests := []struct {
		name, key string
	}{
		{"unset", ""},
		{"not base64", "correct horse battery staple"},
		{"too short", base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newVaultEnv(t)
			if tt.key != "" {
				e.env["VEIL_TEST_KEY"] = tt.key
			}
			code, _, stderr := e.run(t, "vault", "init", "--config", e.config)
			if code == 0 {
				t.Fatal("init succeeded without a usable master key")
			}
			if !strings.Contains(stderr, "veil vault new-master-key") || !strings.Contains(stderr, "32 random bytes") {
				t.Errorf("stderr does not say how to make a key: %q", stderr)
			}
			if tt.key != "" && strings.Contains(stderr, tt.key) {
				t.Error("stderr repeats the bad key")
			}
			if _, err := os.Stat(filepath.Join(e.dataDir, vault.KeysetFile)); err == nil {
				t.Error("a keyset was created")
			}
		})
	}
}

func TestVaultCommands(t *testing.T) {
	e := newVaultEnv(t)
	_, key, _ := e.run(t, "vault", "new-master-key")
	e.env["VEIL_TEST_KEY"] = strings.TrimSpace(key)

	if code, _, stderr := e.run(t, "vault", "rotate-key", "--config", e.config); code == 0 {
		t.Fatalf("rotate-key before init succeeded (%s)", stderr)
	}
	code, out, stderr := e.run(t, "vault", "init", "--config", e.config)
	if code != 0 || !strings.Contains(out, "created") {
		t.Fatalf("init: exit %d, %q %q", code, out, stderr)
	}
	code, out, _ = e.run(t, "vault", "init", "--config", e.config)
	if code != 0 || !strings.Contains(out, "already") {
		t.Fatalf("second init: exit %d, %q", code, out)
	}

	ctx := context.Background()
	v, err := vault.OpenExisting(ctx, e.dataDir, e.key(t), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	kept, _ := v.Put(ctx, vault.NewRecord{Type: "card", Value: []byte("4111111111111111")})
	v.Put(ctx, vault.NewRecord{Type: "card", Value: []byte("5555555555554444"), TTL: time.Nanosecond})
	v.Close()

	if code, out, stderr := e.run(t, "vault", "rotate-key", "--config", e.config); code != 0 || !strings.Contains(out, "rotated") {
		t.Fatalf("rotate-key: exit %d, %q %q", code, out, stderr)
	}
	code, out, stderr = e.run(t, "vault", "purge", "--config", e.config)
	if code != 0 || strings.TrimSpace(out) != "1" {
		t.Fatalf("purge: exit %d, %q %q", code, out, stderr)
	}

	v, err = vault.OpenExisting(ctx, e.dataDir, e.key(t), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	got, err := v.Reveal(ctx, kept.Token, "alice", "")
	if err != nil || string(got.Value) != "4111111111111111" {
		t.Fatalf("record from before the rotation: %q, %v", got.Value, err)
	}
}

func TestVaultUsage(t *testing.T) {
	e := newVaultEnv(t)
	for _, args := range [][]string{{"vault"}, {"vault", "explode"}, {"vault", "init", "extra"}} {
		if code, _, _ := e.run(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
