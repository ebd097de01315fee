package vault

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestFormFlow(t *testing.T) {
	ctx := context.Background()
	tv := newTestVault(t)
	fl, err := tv.CreatePending(ctx, PendingForm{Form: "payment", Preview: "payment details", TTL: time.Hour, PurgeOnView: true, Actor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if fl.FillToken == fl.RevealToken || fl.RecordID == "" {
		t.Fatalf("links = %+v", fl)
	}
	for range 2 { // GETs of either page consume nothing
		m, err := tv.PendingInfo(ctx, fl.FillToken)
		if err != nil || m.State != StateWaiting || m.Type != "payment" || m.Kind != KindForm {
			t.Fatalf("PendingInfo = %+v, %v", m, err)
		}
		m, err = tv.Peek(ctx, fl.RevealToken)
		if err != nil || m.State != StateWaiting {
			t.Fatalf("Peek = %+v, %v", m, err)
		}
	}
	if _, err := tv.PendingInfo(ctx, fl.RevealToken); !errors.Is(err, ErrNotFound) {
		t.Fatalf("reveal token accepted as fill token: %v", err)
	}
	if err := tv.Submit(ctx, fl.RevealToken, []byte("x"), false, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Submit with the reveal token = %v", err)
	}
	tv.clock.Add(59 * time.Minute)
	value := []byte(`{"card_number":"4111111111111111","expiry":"12/30"}`)
	if err := tv.Submit(ctx, fl.FillToken, value, false, "203.0.113.5"); err != nil {
		t.Fatal(err)
	}
	if err := tv.Submit(ctx, fl.FillToken, []byte("again"), false, ""); !errors.Is(err, ErrConsumed) {
		t.Fatalf("second Submit = %v, want ErrConsumed", err)
	}
	if _, err := tv.PendingInfo(ctx, fl.FillToken); !errors.Is(err, ErrConsumed) {
		t.Fatalf("PendingInfo after submit = %v", err)
	}
	// The submission outlives the fill window.
	tv.clock.Add(10 * time.Minute)
	m, err := tv.Peek(ctx, fl.RevealToken)
	if err != nil || m.State != StateSubmitted || m.SubmittedAt.IsZero() {
		t.Fatalf("Peek after submit = %+v, %v", m, err)
	}
	got, err := tv.Reveal(ctx, fl.RevealToken, "alice", "10.0.0.1")
	if err != nil || string(got.Value) != string(value) {
		t.Fatalf("Reveal = %q, %v", got.Value, err)
	}
	if _, err := tv.Reveal(ctx, fl.RevealToken, "alice", "10.0.0.1"); !errors.Is(err, ErrConsumed) {
		t.Fatalf("second Reveal = %v", err)
	}
}

func TestFormExpiry(t *testing.T) {
	ctx := context.Background()
	tv := newTestVault(t)
	fl, _ := tv.CreatePending(ctx, PendingForm{Form: "payment", TTL: time.Minute})
	tv.clock.Add(time.Minute)
	if _, err := tv.PendingInfo(ctx, fl.FillToken); !errors.Is(err, ErrExpired) {
		t.Fatalf("PendingInfo = %v", err)
	}
	if err := tv.Submit(ctx, fl.FillToken, []byte("late"), false, ""); !errors.Is(err, ErrExpired) {
		t.Fatalf("Submit = %v", err)
	}
	if _, err := tv.Reveal(ctx, fl.RevealToken, "a", ""); !errors.Is(err, ErrExpired) {
		t.Fatalf("Reveal = %v", err)
	}
}

func TestFormOneTime(t *testing.T) {
	ctx := context.Background()
	tv := newTestVault(t)
	fl, _ := tv.CreatePending(ctx, PendingForm{Form: "payment"}) // on schedule
	if err := tv.Submit(ctx, fl.FillToken, []byte("cvv=737"), true, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := tv.Reveal(ctx, fl.RevealToken, "a", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := tv.Reveal(ctx, fl.RevealToken, "a", ""); !errors.Is(err, ErrConsumed) {
		t.Fatalf("one-time form revealed twice: %v", err)
	}
}
