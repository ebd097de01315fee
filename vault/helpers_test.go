package vault

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// lockedBuffer collects log output from concurrent goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type testVault struct {
	*Vault
	dir   string
	key   []byte
	clock *clock
	logs  *lockedBuffer
}

func testKey(t testing.TB) []byte {
	t.Helper()
	s, err := NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newTestVault opens a vault on disk in a temporary directory with a fake
// clock and a captured debug log.
func newTestVault(t testing.TB) *testVault {
	t.Helper()
	requireCgo(t)
	tv := &testVault{dir: t.TempDir(), key: testKey(t), clock: newClock(), logs: &lockedBuffer{}}
	tv.Vault = tv.reopen(t)
	t.Cleanup(func() { tv.Close() })
	return tv
}

func (tv *testVault) reopen(t testing.TB) *Vault {
	t.Helper()
	v, err := Open(context.Background(), tv.dir, tv.key, Options{
		Retention: time.Hour,
		Now:       tv.clock.Now,
		Logger:    slog.New(slog.NewTextHandler(tv.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return v
}

// rawFiles returns the bytes of vault.db, -wal and -shm (missing files are
// empty).
func rawFiles(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, name := range []string{DBFile, DBFile + "-wal", DBFile + "-shm"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		out[name] = b
	}
	return out
}

// sealedValue reads a record's stored ciphertext straight from the
// database.
func sealedValue(t testing.TB, v *Vault, id string) []byte {
	t.Helper()
	var b []byte
	if err := v.w.QueryRow(`SELECT value FROM sealed WHERE record_id = ?`, id).Scan(&b); err != nil {
		t.Fatalf("reading sealed value: %v", err)
	}
	return b
}

// assertNoSecrets fails when any of secrets appears in s.
func assertNoSecrets(t testing.TB, what, s string, secrets ...string) {
	t.Helper()
	for _, sec := range secrets {
		if sec != "" && bytes.Contains([]byte(s), []byte(sec)) {
			t.Errorf("%s contains a secret (%d bytes)", what, len(sec))
		}
	}
}

// requireCgo skips tests that need SQLite when built with CGO_ENABLED=0
// (TestOpenWithoutCgo covers that build).
func requireCgo(t testing.TB) {
	t.Helper()
	if !cgoEnabled {
		t.Skip("needs cgo SQLite")
	}
}
