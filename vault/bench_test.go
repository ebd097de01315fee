package vault

import (
	"context"
	"testing"
)

func BenchmarkPut(b *testing.B) {
	tv := newTestVault(b)
	ctx := context.Background()
	rec := NewRecord{Type: "card", Preview: "card ending 1111", Value: []byte("4111 1111 1111 1111"), PurgeOnView: true}
	for b.Loop() {
		if _, err := tv.Put(ctx, rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReveal(b *testing.B) {
	tv := newTestVault(b)
	ctx := context.Background()
	rec := NewRecord{Type: "card", Value: []byte("4111 1111 1111 1111"), PurgeOnView: true}
	tokens := make([]string, 0, b.N)
	for range b.N {
		l, err := tv.Put(ctx, rec)
		if err != nil {
			b.Fatal(err)
		}
		tokens = append(tokens, l.Token)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := tv.Reveal(ctx, tokens[i], "alice", ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRevealUnknown(b *testing.B) {
	tv := newTestVault(b)
	ctx := context.Background()
	for b.Loop() {
		tv.Reveal(ctx, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "mallory", "")
	}
}

func BenchmarkFormSubmitReveal(b *testing.B) {
	tv := newTestVault(b)
	ctx := context.Background()
	for b.Loop() {
		fl, err := tv.CreatePending(ctx, PendingForm{Form: "payment", PurgeOnView: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := tv.Submit(ctx, fl.FillToken, []byte(`{"card_number":"4111111111111111"}`), false, ""); err != nil {
			b.Fatal(err)
		}
		if _, err := tv.Reveal(ctx, fl.RevealToken, "alice", ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRevealConsumed(b *testing.B) {
	tv := newTestVault(b)
	ctx := context.Background()
	l, _ := tv.Put(ctx, NewRecord{Type: "card", Value: []byte("4111"), PurgeOnView: true})
	tv.Reveal(ctx, l.Token, "alice", "")
	for b.Loop() {
		tv.Reveal(ctx, l.Token, "mallory", "")
	}
}
