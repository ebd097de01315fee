package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestPurgeLeavesNoResidue writes a distinctive value, captures its
// ciphertext from the database, removes it (by reveal or by schedule) and
// searches the raw bytes of vault.db, -wal and -shm for both.
func TestPurgeLeavesNoResidue(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		size   int
		form   bool
		remove func(t *testing.T, tv *testVault, token string)
	}{
		{"reveal purge on view", 40, false, reveal},
		{"reveal purge on view overflow pages", 12000, false, reveal},
		{"scheduled purge", 40, false, schedule},
		{"scheduled purge overflow pages", 12000, false, schedule},
		{"form reveal", 200, true, reveal},
		{"form scheduled purge", 200, true, schedule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tv := newTestVault(t)
			// Neighbours that stay, so pages are shared and not just dropped.
			for i := range 5 {
				if _, err := tv.Put(ctx, NewRecord{Type: "card", Value: []byte(fmt.Sprintf("neighbour-%d", i)), TTL: 48 * time.Hour}); err != nil {
					t.Fatal(err)
				}
			}
			value := []byte("RESIDUE-CANARY-" + strings.Repeat("Z9", tt.size/2))
			var id, token string
			if tt.form {
				fl, err := tv.CreatePending(ctx, PendingForm{Form: "payment", PurgeOnView: true, TTL: time.Hour})
				if err != nil {
					t.Fatal(err)
				}
				if err := tv.Submit(ctx, fl.FillToken, value, false, ""); err != nil {
					t.Fatal(err)
				}
				id, token = fl.RecordID, fl.RevealToken
			} else {
				l, err := tv.Put(ctx, NewRecord{Type: "card", Value: value, PurgeOnView: true, TTL: time.Hour})
				if err != nil {
					t.Fatal(err)
				}
				id, token = l.RecordID, l.Token
			}
			ct := sealedValue(t, tv.Vault, id)
			var priv []byte
			tv.w.QueryRow(`SELECT priv FROM sealed WHERE record_id = ?`, id).Scan(&priv)
			needles := map[string][]byte{"value": value, "ciphertext": ct,
				"ciphertext head": ct[:16], "ciphertext middle": ct[len(ct)/2 : len(ct)/2+16], "ciphertext tail": ct[len(ct)-16:]}
			if priv != nil {
				needles["sealed form key"] = priv[len(priv)/2 : len(priv)/2+16]
			}
			// The search can fail: before removal the ciphertext is on disk.
			if !found(rawFiles(t, tv.dir), ct[:16]) {
				t.Fatal("ciphertext not on disk before removal: the search is blind")
			}
			if found(rawFiles(t, tv.dir), value) {
				t.Fatal("plaintext value on disk")
			}
			tt.remove(t, tv, token)
			files := rawFiles(t, tv.dir)
			for name, needle := range needles {
				for file, b := range files {
					if bytes.Contains(b, needle) {
						t.Errorf("%s found in %s after removal", name, file)
					}
				}
			}
			if len(files[DBFile+"-wal"]) != 0 {
				t.Errorf("WAL not truncated: %d bytes", len(files[DBFile+"-wal"]))
			}
			// The neighbours are intact.
			if n, err := tv.List(ctx, 100); err != nil || len(n) < 5 {
				t.Fatalf("List after purge = %d, %v", len(n), err)
			}
		})
	}
}

func reveal(t *testing.T, tv *testVault, token string) {
	t.Helper()
	if _, err := tv.Reveal(context.Background(), token, "alice", ""); err != nil {
		t.Fatal(err)
	}
}

func schedule(t *testing.T, tv *testVault, token string) {
	t.Helper()
	tv.clock.Add(2 * time.Hour)
	n, err := tv.Purge(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("Purge removed %d records, want 1", n)
	}
	if _, err := tv.Peek(context.Background(), token); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Peek after purge = %v", err)
	}
}

func found(files map[string][]byte, needle []byte) bool {
	for _, b := range files {
		if bytes.Contains(b, needle) {
			return true
		}
	}
	return false
}

func TestPurgeSchedule(t *testing.T) {
	ctx := context.Background()
	tv := newTestVault(t)
	short, _ := tv.Put(ctx, NewRecord{Type: "card", Value: []byte("a"), TTL: time.Minute})
	long, _ := tv.Put(ctx, NewRecord{Type: "card", Value: []byte("b"), TTL: 3 * time.Hour})
	retained, _ := tv.Put(ctx, NewRecord{Type: "card", Value: []byte("c")}) // 1h retention
	consumed, _ := tv.Put(ctx, NewRecord{Type: "card", Value: []byte("d"), PurgeOnView: true, TTL: time.Minute})
	tv.Reveal(ctx, consumed.Token, "a", "")
	tv.clock.Add(90 * time.Minute)
	n, err := tv.Purge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("Purge = %d, want 3", n)
	}
	for _, l := range []Link{short, retained, consumed} {
		if _, err := tv.Peek(ctx, l.Token); !errors.Is(err, ErrNotFound) {
			t.Fatalf("purged record: Peek = %v", err)
		}
	}
	if _, err := tv.Reveal(ctx, long.Token, "a", ""); err != nil {
		t.Fatalf("unexpired record: %v", err)
	}
	if n, err := tv.Purge(ctx); err != nil || n != 0 {
		t.Fatalf("second Purge = %d, %v", n, err)
	}
	var purges int
	tv.r.QueryRow(`SELECT count(*) FROM audit WHERE event = 'purge'`).Scan(&purges)
	if purges != 3 {
		t.Fatalf("%d purges audited, want 3", purges)
	}
}

func TestRunPurgerStops(t *testing.T) {
	requireCgo(t)
	purged := make(chan struct{}, 1)
	v, err := Open(context.Background(), t.TempDir(), testKey(t), Options{
		Logger: slog.New(&signalHandler{msg: "vault purged expired records", ch: purged}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Put(context.Background(), NewRecord{Type: "card", Value: []byte("a"), TTL: time.Nanosecond}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		v.RunPurger(ctx, time.Hour)
		close(done)
	}()
	<-purged // RunPurger purges at once, not only after the first hour
	cancel()
	<-done
	var n int
	v.r.QueryRow(`SELECT count(*) FROM records`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d records left", n)
	}
}

// signalHandler is a slog.Handler that signals when a given message is
// logged.
type signalHandler struct {
	msg string
	ch  chan struct{}
}

func (h *signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *signalHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *signalHandler) WithGroup(string) slog.Handler            { return h }
func (h *signalHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return nil
}
