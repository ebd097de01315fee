package vault

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
)

// auditFixture makes a vault with a few audited events and returns the
// number of rows.
func auditFixture(t *testing.T) (*testVault, int) {
	t.Helper()
	ctx := context.Background()
	tv := newTestVault(t)
	l, _ := tv.Put(ctx, NewRecord{Type: "card", Value: []byte("4111111111111111"), PurgeOnView: true, Actor: "proxy"})
	tv.Reveal(ctx, l.Token, "alice", "10.0.0.1")
	tv.Reveal(ctx, l.Token, "mallory", "192.0.2.66")
	tv.Audit(ctx, AuditEvent{Actor: "bob", SourceIP: "10.0.0.2", Event: "login", Outcome: "denied"})
	tv.Audit(ctx, AuditEvent{Actor: "bob", SourceIP: "10.0.0.2", Event: "login", Outcome: "ok"})
	n, err := tv.VerifyAudit(ctx)
	if err != nil {
		t.Fatalf("VerifyAudit on an intact trail: %v", err)
	}
	return tv, n
}

// editFile changes the database with a plain SQLite connection, as someone
// with the file would.
func editFile(t *testing.T, dir string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite3", filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		res, err := db.Exec(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("%s: %d rows changed", s, n)
		}
	}
}

func TestVerifyAuditDetectsTampering(t *testing.T) {
	tests := []struct {
		name    string
		stmts   []string
		wantRow int64 // 0: the last row + 1
	}{
		{"edited outcome", []string{`UPDATE audit SET outcome = 'ok' WHERE id = 3`}, 3},
		{"edited actor", []string{`UPDATE audit SET actor = 'alice' WHERE id = 4`}, 4},
		{"edited time", []string{`UPDATE audit SET at = '2020-01-01T00:00:00Z' WHERE id = 1`}, 1},
		{"deleted row", []string{`DELETE FROM audit WHERE id = 3`}, 4},
		{"deleted first row", []string{`DELETE FROM audit WHERE id = 1`}, 2},
		{"deleted last row", []string{`DELETE FROM audit WHERE id = 5`}, 5},
		{"deleted last row and head rewound", []string{`DELETE FROM audit WHERE id = 5`, `UPDATE audit_head SET last_id = 4, rows = 4, last_mac = (SELECT mac FROM audit WHERE id = 4)`}, 5},
		{"renumbered after delete", []string{`DELETE FROM audit WHERE id = 3`, `UPDATE audit SET id = 3 WHERE id = 4`}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tv, rows := auditFixture(t)
			if rows != 5 {
				t.Fatalf("fixture has %d rows, want 5", rows)
			}
			tv.Close()
			editFile(t, tv.dir, tt.stmts...)
			tv.Vault = tv.reopen(t)
			_, err := tv.VerifyAudit(context.Background())
			var ae *AuditError
			if !errors.As(err, &ae) {
				t.Fatalf("VerifyAudit = %v, want *AuditError", err)
			}
			if ae.RowID != tt.wantRow {
				t.Fatalf("first bad row = %d (%s), want %d", ae.RowID, ae.Reason, tt.wantRow)
			}
		})
	}
}

func TestExportAudit(t *testing.T) {
	tv, rows := auditFixture(t)
	var buf bytes.Buffer
	if err := tv.ExportAudit(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	assertNoSecrets(t, "audit export", buf.String(), "4111111111111111")
	sc := bufio.NewScanner(&buf)
	var lines []map[string]any
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) != rows {
		t.Fatalf("%d lines, want %d", len(lines), rows)
	}
	want := []struct{ event, outcome, actor string }{
		{"create", "ok", "proxy"}, {"reveal", "ok", "alice"}, {"reveal", "consumed", "mallory"}, {"login", "denied", "bob"}, {"login", "ok", "bob"},
	}
	for i, w := range want {
		l := lines[i]
		if l["event"] != w.event || l["outcome"] != w.outcome || l["actor"] != w.actor || l["time"] == "" || l["hash"] == "" {
			t.Errorf("line %d = %v, want %+v", i, l, w)
		}
	}
	if lines[2]["source_ip"] != "192.0.2.66" || lines[1]["record_id"] == "" {
		t.Errorf("source ip / record id missing: %v %v", lines[2], lines[1])
	}
}

func TestAuditChainSurvivesReopen(t *testing.T) {
	tv, rows := auditFixture(t)
	tv.Close()
	tv.Vault = tv.reopen(t)
	tv.Audit(context.Background(), AuditEvent{Actor: "carol", Event: "login", Outcome: "ok"})
	n, err := tv.VerifyAudit(context.Background())
	if err != nil || n != rows+1 {
		t.Fatalf("VerifyAudit = %d, %v", n, err)
	}
}
