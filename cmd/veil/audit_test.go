package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"github.com/veilproxy/veil/vault"
)

func TestAuditVerifyAndExport(t *testing.T) {
	e := newVaultEnv(t)
	_, key, _ := e.run(t, "vault", "new-master-key")
	e.env["VEIL_TEST_KEY"] = strings.TrimSpace(key)
	if code, _, stderr := e.run(t, "vault", "init", "--config", e.config); code != 0 {
		t.Fatal(stderr)
	}
	ctx := context.Background()
	v, err := vault.OpenExisting(ctx, e.dataDir, e.key(t), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := v.Put(ctx, vault.NewRecord{Type: "card", Value: []byte("4111111111111111"), PurgeOnView: true})
	v.Reveal(ctx, l.Token, "alice", "10.0.0.1")
	v.Reveal(ctx, l.Token, "mallory", "192.0.2.1")
	v.Audit(ctx, vault.AuditEvent{Actor: "bob", Event: "login", Outcome: "ok"})
	v.Close()

	code, out, stderr := e.run(t, "audit", "verify", "--config", e.config)
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("verify: exit %d, %q %q", code, out, stderr)
	}

	exported := filepath.Join(e.dir, "audit.jsonl")
	if code, _, stderr := e.run(t, "audit", "export", "--config", e.config, "--out", exported); code != 0 {
		t.Fatalf("export: %s", stderr)
	}
	f, err := os.Open(exported)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var events []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var row struct{ Event, Outcome string }
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		events = append(events, row.Event+"/"+row.Outcome)
	}
	if got := strings.Join(events, " "); got != "create/ok reveal/ok reveal/consumed login/ok" {
		t.Fatalf("exported %s", got)
	}
	if code, out, _ := e.run(t, "audit", "export", "--config", e.config); code != 0 || strings.Count(out, "\n") != 4 || strings.Contains(out, "4111") {
		t.Fatalf("export to stdout: exit %d, %q", code, out)
	}

	db, err := sql.Open("sqlite3", filepath.Join(e.dataDir, vault.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit SET outcome = 'ok' WHERE id = 3`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, out, _ = e.run(t, "audit", "verify", "--config", e.config)
	if code != 1 || !strings.Contains(out, fmt.Sprintf("row %d", 3)) {
		t.Fatalf("verify of an edited trail: exit %d, %q", code, out)
	}
}
