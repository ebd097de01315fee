package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestStolenDatabaseAndMasterKey plays an attacker holding vault.db, the
// keyset file and the master key, but no link: the keyset layer comes off,
// the link layer does not, whatever they try with what the database holds.
func TestStolenDatabaseAndMasterKey(t *testing.T) {
	ctx := context.Background()
	tv := newTestVault(t)
	value := []byte("4111-STOLEN-DB-TEST-1111")
	link, err := tv.Put(ctx, NewRecord{Type: "card", Value: value})
	if err != nil {
		t.Fatal(err)
	}
	fl, _ := tv.CreatePending(ctx, PendingForm{Form: "payment"})
	formValue := []byte("FORM-STOLEN-DB-TEST")
	if err := tv.Submit(ctx, fl.FillToken, formValue, false, ""); err != nil {
		t.Fatal(err)
	}
	tv.Close()

	// The attacker's copy, opened with the master key.
	stolen := t.TempDir()
	for _, f := range []string{DBFile, DBFile + "-wal", KeysetFile} {
		b, err := os.ReadFile(filepath.Join(tv.dir, f))
		if err == nil {
			os.WriteFile(filepath.Join(stolen, f), b, 0o600)
		}
	}
	v, err := Open(ctx, stolen, tv.key, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for _, rec := range []struct {
		id, kind string
		want     []byte
	}{{link.RecordID, KindCapture, value}, {fl.RecordID, KindForm, formValue}} {
		var tokenHash, ct, priv []byte
		v.r.QueryRow(`SELECT token_hash FROM records WHERE id = ?`, rec.id).Scan(&tokenHash)
		v.r.QueryRow(`SELECT value, priv FROM sealed WHERE record_id = ?`, rec.id).Scan(&ct, &priv)
		inner, err := v.keys.decrypt(ct, recordAD(rec.kind, rec.id, "value"))
		if err != nil {
			t.Fatalf("the master key should open the keyset layer: %v", err)
		}
		if bytes.Contains(inner, rec.want) {
			t.Fatal("the keyset layer alone reveals the value")
		}
		// Every secret-like thing in the database, tried as the link secret.
		h := sha256.Sum256(tokenHash)
		for _, guess := range [][]byte{tokenHash, h[:], make([]byte, 32), []byte(rec.id)} {
			r := row{id: rec.id, kind: rec.kind}
			if pt, err := v.open(r, guess, ct, priv); err == nil {
				t.Fatalf("opened without the link: %q", pt)
			}
		}
	}
	// Pointing the stored hash at a link the attacker made up finds the
	// record but cannot open it: the hash is not the key.
	_, forged, _ := newToken()
	if _, err := v.w.Exec(`UPDATE records SET token_hash = ? WHERE id = ?`, tokenHash(forged), link.RecordID); err != nil {
		t.Fatal(err)
	}
	if got, err := v.Reveal(ctx, forged, "mallory", ""); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("forged link: %q, %v; want a decryption failure", got.Value, err)
	}
}

// TestLinkWithoutDatabase: the link alone opens nothing, neither against
// another vault with the same master key nor against the right database
// opened with another master key.
func TestLinkWithoutDatabase(t *testing.T) {
	ctx := context.Background()
	tv := newTestVault(t)
	link, _ := tv.Put(ctx, NewRecord{Type: "card", Value: []byte("4111111111111111")})
	if bytes.Contains([]byte(link.Token), []byte("4111")) {
		t.Fatal("the link carries the value")
	}
	other, err := Open(ctx, t.TempDir(), tv.key, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Reveal(ctx, link.Token, "mallory", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Reveal in another vault = %v", err)
	}
	tv.Close()
	if _, err := Open(ctx, tv.dir, testKey(t), Options{}); !errors.Is(err, ErrBadMasterKey) {
		t.Fatalf("Open with another master key = %v, want ErrBadMasterKey", err)
	}
}

func TestMissingKeysetRefused(t *testing.T) {
	ctx := context.Background()
	tv := newTestVault(t)
	tv.Put(ctx, NewRecord{Type: "card", Value: []byte("x")})
	tv.Close()
	os.Rename(filepath.Join(tv.dir, KeysetFile), filepath.Join(tv.dir, "moved"))
	if _, err := Open(ctx, tv.dir, tv.key, Options{}); err == nil {
		t.Fatal("opened a vault whose keyset is missing (a new keyset would orphan every record)")
	}
	if _, err := os.Stat(filepath.Join(tv.dir, KeysetFile)); err == nil {
		t.Fatal("a new keyset was written over the missing one")
	}
}
