package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestStorageFailures: a full disk or a read-only database makes Put fail
// with ErrStorage and a clear message, leaves nothing half-written and puts
// nothing secret in the error or the log.
func TestStorageFailures(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		breakIt func(t *testing.T, tv *testVault)
		fix     func(t *testing.T, tv *testVault)
		words   string
	}{
		{"disk full", func(t *testing.T, tv *testVault) {
			var pages int
			tv.w.QueryRow(`PRAGMA page_count`).Scan(&pages)
			if _, err := tv.w.Exec(fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+2)); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, tv *testVault) {
			tv.w.Exec(`PRAGMA max_page_count = 1073741823`)
		}, "full"},
		{"read-only", func(t *testing.T, tv *testVault) {
			if _, err := tv.w.Exec(`PRAGMA query_only = ON`); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, tv *testVault) {
			tv.w.Exec(`PRAGMA query_only = OFF`)
		}, "read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tv := newTestVault(t)
			if _, err := tv.Put(ctx, NewRecord{Type: "card", Value: []byte("before")}); err != nil {
				t.Fatal(err)
			}
			tt.breakIt(t, tv)
			var err error
			var value []byte
			for i := range 200 {
				value = bytes.Repeat([]byte(fmt.Sprintf("SECRET-%04d-", i)), 300)
				if _, err = tv.Put(ctx, NewRecord{Type: "card", Value: value}); err != nil {
					break
				}
			}
			if err == nil {
				t.Fatal("Put never failed")
			}
			if !errors.Is(err, ErrStorage) || !bytes.Contains([]byte(err.Error()), []byte(tt.words)) {
				t.Fatalf("Put error = %v, want ErrStorage saying %q", err, tt.words)
			}
			assertNoSecrets(t, "error", err.Error(), "SECRET-")
			assertNoSecrets(t, "log", tv.logs.String(), "SECRET-")
			if tt.words == "read" { // a full disk may still take Check's one small row
				if err := tv.Check(ctx); !errors.Is(err, ErrStorage) {
					t.Fatalf("Check = %v, want ErrStorage", err)
				}
			}
			tt.fix(t, tv)
			// Nothing half-written: every record has its sealed value and
			// an audit row, and the chain verifies.
			var records, sealed, creates int
			tv.r.QueryRow(`SELECT count(*) FROM records`).Scan(&records)
			tv.r.QueryRow(`SELECT count(*) FROM sealed WHERE value IS NOT NULL`).Scan(&sealed)
			tv.r.QueryRow(`SELECT count(*) FROM audit WHERE event = 'create'`).Scan(&creates)
			if records != sealed || records != creates {
				t.Fatalf("records %d, sealed %d, create rows %d", records, sealed, creates)
			}
			if _, err := tv.VerifyAudit(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := tv.Put(ctx, NewRecord{Type: "card", Value: []byte("after")}); err != nil {
				t.Fatalf("Put after the fault cleared: %v", err)
			}
		})
	}
}

func TestPragmasOnEveryConnection(t *testing.T) {
	tv := newTestVault(t)
	if err := checkPragmas(context.Background(), tv.w); err != nil {
		t.Fatal(err)
	}
	if err := tv.Check(context.Background()); err != nil {
		t.Fatalf("Check on a healthy vault: %v", err)
	}
	// Hold several reader connections at once so the check reaches more
	// than one.
	var conns []interface{ Close() error }
	for range 4 {
		c, err := tv.r.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var mode string
		var sync, secure int
		c.QueryRowContext(context.Background(), `PRAGMA journal_mode`).Scan(&mode)
		c.QueryRowContext(context.Background(), `PRAGMA synchronous`).Scan(&sync)
		c.QueryRowContext(context.Background(), `PRAGMA secure_delete`).Scan(&secure)
		if mode != "wal" || sync != 2 || secure != 1 {
			t.Fatalf("reader connection: journal_mode=%s synchronous=%d secure_delete=%d", mode, sync, secure)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close()
	}
	var v int
	tv.r.QueryRow(`SELECT version FROM schema_version`).Scan(&v)
	if v != len(migrations) {
		t.Fatalf("schema version %d, want %d", v, len(migrations))
	}
}

func TestLogsCarryNoSecrets(t *testing.T) {
	ctx := context.Background()
	tv := newTestVault(t)
	value := "LOG-CANARY-4111111111111111"
	l, _ := tv.Put(ctx, NewRecord{Type: "card", Value: []byte(value), PurgeOnView: true})
	fl, _ := tv.CreatePending(ctx, PendingForm{Form: "payment"})
	tv.Submit(ctx, fl.FillToken, []byte(value+"-form"), false, "")
	tv.Reveal(ctx, l.Token, "alice", "")
	tv.Reveal(ctx, l.Token, "alice", "")
	tv.Reveal(ctx, fl.RevealToken, "alice", "")
	tv.PutAccount(ctx, Account{Name: "alice", PasswordHash: "HASH-CANARY", TOTPSecret: []byte("TOTP-CANARY")})
	tv.RotateKey(ctx)
	tv.Purge(ctx)
	logs := tv.logs.String()
	if !bytes.Contains([]byte(logs), []byte("vault record revealed")) {
		t.Fatalf("expected log lines, got %q", logs)
	}
	assertNoSecrets(t, "log", logs, value, l.Token, fl.FillToken, fl.RevealToken, "HASH-CANARY", "TOTP-CANARY")
	var buf bytes.Buffer
	tv.ExportAudit(ctx, &buf)
	assertNoSecrets(t, "audit", buf.String(), value, l.Token, fl.FillToken, fl.RevealToken, "HASH-CANARY", "TOTP-CANARY")
}

func TestFilesArePrivate(t *testing.T) {
	tv := newTestVault(t)
	tv.Put(context.Background(), NewRecord{Type: "card", Value: []byte("x")})
	for _, name := range []string{DBFile, DBFile + "-wal", KeysetFile} {
		fi, err := os.Stat(filepath.Join(tv.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v", name, fi.Mode().Perm())
		}
	}
}
