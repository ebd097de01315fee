package vault

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestAccounts(t *testing.T) {
	ctx := context.Background()
	tv := newTestVault(t)
	totp := []byte("JBSWY3DPEHPK3PXP-TOTP-CANARY")
	if err := tv.PutAccount(ctx, Account{Name: "alice", PasswordHash: "$argon2id$v=19$x", TOTPSecret: totp}); err != nil {
		t.Fatal(err)
	}
	if err := tv.PutAccount(ctx, Account{Name: "bob", PasswordHash: "$argon2id$v=19$y"}); err != nil {
		t.Fatal(err)
	}
	a, err := tv.GetAccount(ctx, "alice")
	if err != nil || string(a.TOTPSecret) != string(totp) || a.PasswordHash != "$argon2id$v=19$x" || a.CreatedAt.IsZero() {
		t.Fatalf("GetAccount = %+v, %v", a, err)
	}
	if _, err := tv.GetAccount(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetAccount(nobody) = %v", err)
	}
	names, err := tv.ListAccounts(ctx)
	if err != nil || !slices.Equal(names, []string{"alice", "bob"}) {
		t.Fatalf("ListAccounts = %v, %v", names, err)
	}
	if found(rawFiles(t, tv.dir), totp) {
		t.Fatal("TOTP secret stored in the clear")
	}
	// The sealed secret is bound to its account name.
	if _, err := tv.w.Exec(`UPDATE accounts SET totp = (SELECT totp FROM accounts WHERE name = 'alice') WHERE name = 'bob'`); err != nil {
		t.Fatal(err)
	}
	if _, err := tv.GetAccount(ctx, "bob"); err == nil {
		t.Fatal("a TOTP secret moved to another account opened")
	}
	if err := tv.DeleteAccount(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := tv.DeleteAccount(ctx, "bob"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second DeleteAccount = %v", err)
	}
	if _, err := tv.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}
