package vault

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadMasterKey(t *testing.T) {
	good, err := NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	short := base64.StdEncoding.EncodeToString([]byte("sixteen-byte-key"))
	dir := t.TempDir()
	goodFile := filepath.Join(dir, "good")
	os.WriteFile(goodFile, []byte(good+"\n"), 0o600)
	badFile := filepath.Join(dir, "bad")
	os.WriteFile(badFile, []byte("hunter2-not-a-key"), 0o600)
	env := map[string]string{"GOOD": good, "SHORT": short, "JUNK": "hunter2-not-a-key!", "URLSAFE": strings.NewReplacer("+", "-", "/", "_").Replace(good) + "-_"}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name    string
		ks      KeySource
		wantErr error
		secret  string
	}{
		{"env", KeySource{Env: "GOOD"}, nil, ""},
		{"file with newline", KeySource{File: goodFile}, nil, ""},
		{"env unset", KeySource{Env: "NOPE"}, ErrNoMasterKey, ""},
		{"env short", KeySource{Env: "SHORT"}, ErrBadMasterKey, short},
		{"env junk", KeySource{Env: "JUNK"}, ErrBadMasterKey, "hunter2"},
		{"env url alphabet", KeySource{Env: "URLSAFE"}, ErrBadMasterKey, env["URLSAFE"]},
		{"file junk", KeySource{File: badFile}, ErrBadMasterKey, "hunter2"},
		{"file missing", KeySource{File: filepath.Join(dir, "missing")}, ErrNoMasterKey, ""},
		{"no source", KeySource{}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := LoadMasterKey(tt.ks, getenv)
			if tt.name == "no source" {
				if err == nil {
					t.Fatal("want an error for an empty key source")
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "32 random bytes") {
					t.Errorf("error does not say what is expected: %v", err)
				}
				assertNoSecrets(t, "error", err.Error(), tt.secret)
				return
			}
			if len(key) != MasterKeySize {
				t.Fatalf("key is %d bytes", len(key))
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	key, _ := NewMasterKey()
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"env", Config{Key: KeySource{Env: "VEIL_MASTER_KEY"}}, true},
		{"file", Config{Key: KeySource{File: "/run/secrets/veil"}, Retention: 0}, true},
		{"negative retention", Config{Key: KeySource{Env: "K"}, Retention: -1}, false},
		{"neither", Config{}, false},
		{"both", Config{Key: KeySource{Env: "K", File: "f"}}, false},
		{"literal key in env", Config{Key: KeySource{Env: key}}, false},
		{"literal key in file", Config{Key: KeySource{File: key}}, false},
		{"bad env name", Config{Key: KeySource{Env: "VEIL KEY"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				assertNoSecrets(t, "error", err.Error(), key)
			}
		})
	}
}

func FuzzParseMasterKey(f *testing.F) {
	good, _ := NewMasterKey()
	for _, s := range []string{good, good + "\n", "", "====", strings.Repeat("A", 44), strings.Repeat("A", 43) + "=", "AAAA", good[:43]} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		key, err := parseMasterKey(append([]byte(nil), raw...))
		if err != nil {
			if len(raw) > 8 && strings.Contains(err.Error(), string(raw)) {
				t.Fatal("error repeats the input")
			}
			return
		}
		if len(key) != MasterKeySize {
			t.Fatalf("accepted a %d-byte key", len(key))
		}
	})
}

func FuzzTokenSecret(f *testing.F) {
	_, tok, _ := newToken()
	for _, s := range []string{tok, "", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "../../x", tok + "=", tok[:42] + "+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		secret, ok := tokenSecret(s)
		if !ok {
			return
		}
		if len(secret) != 32 || base64.RawURLEncoding.EncodeToString(secret) != s {
			t.Fatalf("accepted %q as a token", s)
		}
	})
}
