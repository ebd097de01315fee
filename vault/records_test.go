package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestPutReveal(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		rec         NewRecord
		revealAgain bool
	}{
		{"purge on view", NewRecord{Type: "card", Preview: "card ending 1111", Value: []byte("4111 1111 1111 1111"), PurgeOnView: true}, false},
		{"one time ignores retention", NewRecord{Type: "cvv", Preview: "cvv", Value: []byte("737"), OneTime: true, TTL: 48 * time.Hour}, false},
		{"on schedule", NewRecord{Type: "ssn", Preview: "ssn ending 6789", Value: []byte("123-45-6789")}, true},
		{"binary value", NewRecord{Type: "card_track", Value: []byte{0, 1, 2, 0xff, '%', 'B'}, OneTime: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tv := newTestVault(t)
			link, err := tv.Put(ctx, tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			if len(link.Token) < 22 || link.RecordID == "" {
				t.Fatalf("link = %q/%q", link.RecordID, link.Token)
			}
			for range 2 { // Peek consumes nothing
				m, err := tv.Peek(ctx, link.Token)
				if err != nil {
					t.Fatalf("Peek: %v", err)
				}
				if m.State != StateSubmitted || m.Type != tt.rec.Type || m.Preview != tt.rec.Preview || m.Kind != KindCapture {
					t.Fatalf("Peek = %+v", m)
				}
			}
			got, err := tv.Reveal(ctx, link.Token, "alice", "10.0.0.1")
			if err != nil {
				t.Fatalf("Reveal: %v", err)
			}
			if !bytes.Equal(got.Value, tt.rec.Value) || got.RecordID != link.RecordID || got.State != StateRevealed {
				t.Fatalf("Reveal = %+v", got)
			}
			_, err = tv.Reveal(ctx, link.Token, "alice", "10.0.0.1")
			if tt.revealAgain {
				if err != nil {
					t.Fatalf("second Reveal of an on-schedule record: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConsumed) {
				t.Fatalf("second Reveal = %v, want ErrConsumed", err)
			}
			if _, err := tv.Peek(ctx, link.Token); !errors.Is(err, ErrConsumed) {
				t.Fatalf("Peek after reveal = %v, want ErrConsumed", err)
			}
			var n int
			tv.w.QueryRow(`SELECT count(*) FROM sealed WHERE record_id = ?`, link.RecordID).Scan(&n)
			if n != 0 {
				t.Fatal("sealed value kept after a one-time reveal")
			}
		})
	}
}

func TestLinkErrors(t *testing.T) {
	ctx := context.Background()
	tv := newTestVault(t)
	fresh, _ := tv.Put(ctx, NewRecord{Type: "card", Value: []byte("4111111111111111"), PurgeOnView: true})
	used, _ := tv.Put(ctx, NewRecord{Type: "card", Value: []byte("5555555555554444"), PurgeOnView: true})
	if _, err := tv.Reveal(ctx, used.Token, "a", ""); err != nil {
		t.Fatal(err)
	}
	old, _ := tv.Put(ctx, NewRecord{Type: "card", Value: []byte("4000056655665556"), TTL: time.Minute})
	tv.clock.Add(2 * time.Minute)
	pending, _ := tv.CreatePending(ctx, PendingForm{Form: "payment"})
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"unknown", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", ErrNotFound},
		{"malformed", "../../etc/passwd", ErrNotFound},
		{"empty", "", ErrNotFound},
		{"consumed", used.Token, ErrConsumed},
		{"expired", old.Token, ErrExpired},
		{"waiting form", pending.RevealToken, ErrWaiting},
		{"fill token is not a reveal token", pending.FillToken, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tv.Reveal(ctx, tt.token, "mallory", "192.0.2.9")
			if !errors.Is(err, tt.want) {
				t.Fatalf("Reveal = %v, want %v", err, tt.want)
			}
		})
	}
	// The refusals consumed nothing.
	if _, err := tv.Reveal(ctx, fresh.Token, "a", ""); err != nil {
		t.Fatalf("fresh link after refusals: %v", err)
	}
	n, err := tv.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var failed int
	tv.r.QueryRow(`SELECT count(*) FROM audit WHERE event = 'reveal' AND outcome != 'ok'`).Scan(&failed)
	if failed != len(tests) {
		t.Fatalf("%d failed reveals audited, want %d (of %d rows)", failed, len(tests), n)
	}
}

func TestTamperedCiphertext(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		tamper func(t *testing.T, tv *testVault, a, b Link)
	}{
		{"flipped bit", func(t *testing.T, tv *testVault, a, _ Link) {
			ct := sealedValue(t, tv.Vault, a.RecordID)
			ct[len(ct)/2] ^= 1
			mustExec(t, tv, `UPDATE sealed SET value = ? WHERE record_id = ?`, ct, a.RecordID)
		}},
		{"swapped between records", func(t *testing.T, tv *testVault, a, b Link) {
			mustExec(t, tv, `UPDATE sealed SET value = ? WHERE record_id = ?`, sealedValue(t, tv.Vault, b.RecordID), a.RecordID)
		}},
		{"kind changed", func(t *testing.T, tv *testVault, a, _ Link) {
			mustExec(t, tv, `UPDATE records SET kind = 'other' WHERE id = ?`, a.RecordID)
		}},
		{"record id changed", func(t *testing.T, tv *testVault, a, _ Link) {
			// Move a's ciphertext and link to a new id.
			mustExec(t, tv, `PRAGMA foreign_keys = OFF`)
			mustExec(t, tv, `UPDATE sealed SET record_id = 'y' WHERE record_id = ?`, a.RecordID)
			mustExec(t, tv, `UPDATE records SET id = 'y' WHERE id = ?`, a.RecordID)
			mustExec(t, tv, `PRAGMA foreign_keys = ON`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tv := newTestVault(t)
			a, _ := tv.Put(ctx, NewRecord{Type: "card", Value: []byte("4111111111111111"), PurgeOnView: true})
			b, _ := tv.Put(ctx, NewRecord{Type: "card", Value: []byte("5555555555554444"), PurgeOnView: true})
			tt.tamper(t, tv, a, b)
			got, err := tv.Reveal(ctx, a.Token, "alice", "")
			if err == nil {
				t.Fatalf("tampered record revealed %q", got.Value)
			}
			if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConsumed) {
				t.Fatalf("tampering reported as %v", err)
			}
			var sealedRows int
			tv.r.QueryRow(`SELECT count(*) FROM sealed`).Scan(&sealedRows)
			if sealedRows != 2 {
				t.Fatalf("a failed reveal deleted something: %d sealed rows", sealedRows)
			}
		})
	}
}

func TestRotateKeepsOldRecords(t *testing.T) {
	ctx := context.Background()
	tv := newTestVault(t)
	before, _ := tv.Put(ctx, NewRecord{Type: "card", Value: []byte("old-value-4111"), PurgeOnView: true})
	form, _ := tv.CreatePending(ctx, PendingForm{Form: "payment"})
	if err := tv.RotateKey(ctx); err != nil {
		t.Fatal(err)
	}
	if tv.keys.keys() != 2 {
		t.Fatalf("keyset has %d keys after rotation, want 2", tv.keys.keys())
	}
	after, _ := tv.Put(ctx, NewRecord{Type: "card", Value: []byte("new-value-5555"), PurgeOnView: true})
	if err := tv.Submit(ctx, form.FillToken, []byte("form-value"), false, ""); err != nil {
		t.Fatal(err)
	}
	// A second process (veil vault rotate-key) rotates again; this one has
	// never seen that key and still opens records sealed under it.
	other, err := OpenExisting(ctx, tv.dir, tv.key, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.RotateKey(ctx); err != nil {
		t.Fatal(err)
	}
	third, err := other.Put(ctx, NewRecord{Type: "card", Value: []byte("third-value"), PurgeOnView: true})
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	tv.Close()
	tv.Vault = tv.reopen(t)
	for _, c := range []struct {
		token string
		want  string
	}{{before.Token, "old-value-4111"}, {after.Token, "new-value-5555"}, {form.RevealToken, "form-value"}, {third.Token, "third-value"}} {
		got, err := tv.Reveal(ctx, c.token, "alice", "")
		if err != nil || string(got.Value) != c.want {
			t.Fatalf("Reveal = %q, %v; want %q", got.Value, err, c.want)
		}
	}
}

func TestConcurrentRevealOneWinner(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{KindCapture, KindForm} {
		t.Run(kind, func(t *testing.T) {
			tv := newTestVault(t)
			var token string
			if kind == KindCapture {
				l, err := tv.Put(ctx, NewRecord{Type: "card", Value: []byte("4111111111111111"), PurgeOnView: true})
				if err != nil {
					t.Fatal(err)
				}
				token = l.Token
			} else {
				fl, err := tv.CreatePending(ctx, PendingForm{Form: "payment", PurgeOnView: true})
				if err != nil {
					t.Fatal(err)
				}
				if err := tv.Submit(ctx, fl.FillToken, []byte(`{"card_number":"4111111111111111"}`), false, "198.51.100.7"); err != nil {
					t.Fatal(err)
				}
				token = fl.RevealToken
			}
			const n = 20
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins, consumed := 0, 0
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, err := tv.Reveal(ctx, token, fmt.Sprintf("agent%d", i), "10.0.0.2")
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						wins++
					case errors.Is(err, ErrConsumed):
						consumed++
					default:
						t.Errorf("Reveal: %v", err)
					}
				}()
			}
			close(start)
			wg.Wait()
			if wins != 1 || consumed != n-1 {
				t.Fatalf("%d successes and %d ErrConsumed, want 1 and %d", wins, consumed, n-1)
			}
		})
	}
}

func TestList(t *testing.T) {
	ctx := context.Background()
	tv := newTestVault(t)
	var ids []string
	for i := range 3 {
		l, err := tv.Put(ctx, NewRecord{Type: "card", Preview: fmt.Sprintf("card %d", i), Value: []byte("v")})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, l.RecordID)
		tv.clock.Add(time.Second)
	}
	got, err := tv.List(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].RecordID != ids[2] || got[1].RecordID != ids[1] {
		t.Fatalf("List = %+v", got)
	}
	if n, err := tv.Count(ctx); err != nil || n != 3 {
		t.Fatalf("Count = %d, %v", n, err)
	}
}

func mustExec(t *testing.T, tv *testVault, q string, args ...any) {
	t.Helper()
	res, err := tv.w.Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if n, _ := res.RowsAffected(); n == 0 && q[0] == 'U' {
		t.Fatalf("%s: no row changed", q)
	}
}

// TestRevealFirstOneWinner: a kept record (an on_schedule form) whose page
// may be shown once gives exactly one success among concurrent RevealFirst
// calls, stays stored, and refuses every later RevealFirst while Reveal
// still opens it.
func TestRevealFirstOneWinner(t *testing.T) {
	ctx := context.Background()
	tv := newTestVault(t)
	fl, err := tv.CreatePending(ctx, PendingForm{Form: "insurance"})
	if err != nil {
		t.Fatal(err)
	}
	const submitted = `{"member_id":"XYZ123456789"}`
	if err := tv.Submit(ctx, fl.FillToken, []byte(submitted), false, "198.51.100.7"); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, consumed := 0, 0
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rv, err := tv.RevealFirst(ctx, fl.RevealToken, fmt.Sprintf("agent%d", i), "10.0.0.2")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
				if string(rv.Value) != submitted {
					t.Errorf("revealed %q", rv.Value)
				}
			case errors.Is(err, ErrConsumed):
				consumed++
			default:
				t.Errorf("RevealFirst: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins != 1 || consumed != n-1 {
		t.Fatalf("%d successes and %d refusals, want 1 and %d", wins, consumed, n-1)
	}
	if _, err := tv.RevealFirst(ctx, fl.RevealToken, "agent", "10.0.0.2"); !errors.Is(err, ErrConsumed) {
		t.Errorf("a later RevealFirst: %v, want ErrConsumed", err)
	}
	if rv, err := tv.Reveal(ctx, fl.RevealToken, "agent", "10.0.0.2"); err != nil || string(rv.Value) != submitted {
		t.Errorf("Reveal of the kept record: %q, %v", rv.Value, err)
	}
}
