package vault

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// AuditEvent is one line of the audit trail. It never carries a value.
// Event names used by the vault: create, form.create, submit, reveal,
// purge, key.rotate, account.put, account.delete; other packages add their
// own (login, logout). Outcome is "ok" or why not (not_found, consumed,
// expired, waiting, denied, error).
type AuditEvent struct {
	Actor, SourceIP, RecordID, Event, Outcome string
}

// auditFieldMax bounds each field so a caller cannot flood the trail.
const auditFieldMax = 256

// Audit appends e to the trail in its own transaction.
func (v *Vault) Audit(ctx context.Context, e AuditEvent) error {
	if e.Event == "" {
		return errors.New("audit: no event")
	}
	err := v.writeTx(ctx, func(tx *sql.Tx) error {
		return v.appendAudit(ctx, tx, v.now(), e)
	})
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// appendAudit adds a row inside tx. Each row's MAC (HMAC-SHA256 under a key
// derived from the master key) covers the previous row's MAC and every
// field; audit_head holds the last id, the row count and the last MAC, so
// an edited, deleted or truncated row breaks the chain.
func (v *Vault) appendAudit(ctx context.Context, tx *sql.Tx, at time.Time, e AuditEvent) error {
	e = clampEvent(e)
	var lastID, rows int64
	prev := make([]byte, sha256.Size)
	err := tx.QueryRowContext(ctx, `SELECT last_id, rows, last_mac FROM audit_head WHERE k = 1`).Scan(&lastID, &rows, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("audit head: %w", err)
	}
	id := lastID + 1
	ts := at.UTC().Format(time.RFC3339Nano)
	mac := v.auditMAC(prev, id, ts, e)
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit (id, at, actor, source_ip, record_id, event, outcome, prev, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, ts, e.Actor, e.SourceIP, e.RecordID, e.Event, e.Outcome, prev, mac); err != nil {
		return fmt.Errorf("audit row: %w", err)
	}
	headMAC := v.headMAC(id, rows+1, mac)
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_head (k, last_id, rows, last_mac, mac) VALUES (1, ?, ?, ?, ?)
ON CONFLICT (k) DO UPDATE SET last_id = excluded.last_id, rows = excluded.rows, last_mac = excluded.last_mac, mac = excluded.mac`, id, rows+1, mac, headMAC); err != nil {
		return fmt.Errorf("audit head: %w", err)
	}
	return nil
}

func clampEvent(e AuditEvent) AuditEvent {
	c := func(s string) string {
		if len(s) > auditFieldMax {
			s = s[:auditFieldMax]
		}
		return strings.ToValidUTF8(s, "?")
	}
	return AuditEvent{Actor: c(e.Actor), SourceIP: c(e.SourceIP), RecordID: c(e.RecordID), Event: c(e.Event), Outcome: c(e.Outcome)}
}

func (v *Vault) auditMAC(prev []byte, id int64, ts string, e AuditEvent) []byte {
	m := hmac.New(sha256.New, v.auditKey)
	m.Write([]byte("veil/v1/audit-row"))
	m.Write(prev)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(id))
	m.Write(n[:])
	for _, f := range []string{ts, e.Actor, e.SourceIP, e.RecordID, e.Event, e.Outcome} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		m.Write(n[:])
		m.Write([]byte(f))
	}
	return m.Sum(nil)
}

func (v *Vault) headMAC(lastID, rows int64, last []byte) []byte {
	m := hmac.New(sha256.New, v.auditKey)
	m.Write([]byte("veil/v1/audit-head"))
	var n [16]byte
	binary.BigEndian.PutUint64(n[:8], uint64(lastID))
	binary.BigEndian.PutUint64(n[8:], uint64(rows))
	m.Write(n[:])
	m.Write(last)
	return m.Sum(nil)
}

// auditRow is a stored row as ExportAudit writes it.
type auditRow struct {
	ID       int64  `json:"id"`
	Time     string `json:"time"`
	Actor    string `json:"actor"`
	SourceIP string `json:"source_ip,omitempty"`
	RecordID string `json:"record_id,omitempty"`
	Event    string `json:"event"`
	Outcome  string `json:"outcome"`
	Hash     string `json:"hash"`
	prev     []byte
	mac      []byte
}

// eachAudit calls fn for every row in id order, in one read snapshot, and
// returns the head (zero values when the trail is empty).
func (v *Vault) eachAudit(ctx context.Context, fn func(r auditRow) error) (lastID, rows int64, headMAC []byte, err error) {
	tx, err := v.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, 0, nil, storageErr(err)
	}
	defer tx.Rollback()
	err = tx.QueryRowContext(ctx, `SELECT last_id, rows, mac FROM audit_head WHERE k = 1`).Scan(&lastID, &rows, &headMAC)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil, storageErr(err)
	}
	rs, err := tx.QueryContext(ctx, `SELECT id, at, actor, source_ip, record_id, event, outcome, prev, mac FROM audit ORDER BY id`)
	if err != nil {
		return 0, 0, nil, storageErr(err)
	}
	defer rs.Close()
	for rs.Next() {
		var r auditRow
		if err := rs.Scan(&r.ID, &r.Time, &r.Actor, &r.SourceIP, &r.RecordID, &r.Event, &r.Outcome, &r.prev, &r.mac); err != nil {
			return 0, 0, nil, err
		}
		r.Hash = hex.EncodeToString(r.mac)
		if err := fn(r); err != nil {
			return 0, 0, nil, err
		}
	}
	return lastID, rows, headMAC, storageErr(rs.Err())
}

// VerifyAudit walks the whole trail and checks every row's MAC, the links
// between rows and the head. It returns the number of rows checked, and an
// *AuditError naming the first bad row when the chain is broken.
func (v *Vault) VerifyAudit(ctx context.Context) (int, error) {
	prev := make([]byte, sha256.Size)
	var n int64
	var bad *AuditError
	var lastSeen int64
	lastID, rows, headMAC, err := v.eachAudit(ctx, func(r auditRow) error {
		if bad != nil {
			return nil
		}
		n++
		switch {
		case r.ID != lastSeen+1:
			bad = &AuditError{RowID: r.ID, Reason: fmt.Sprintf("row %d missing before it", lastSeen+1)}
		case !hmac.Equal(r.prev, prev):
			bad = &AuditError{RowID: r.ID, Reason: "does not follow the row before it"}
		case !hmac.Equal(r.mac, v.auditMAC(prev, r.ID, r.Time, AuditEvent{Actor: r.Actor, SourceIP: r.SourceIP, RecordID: r.RecordID, Event: r.Event, Outcome: r.Outcome})):
			bad = &AuditError{RowID: r.ID, Reason: "contents changed"}
		}
		prev, lastSeen = r.mac, r.ID
		return nil
	})
	if err != nil {
		return int(n), fmt.Errorf("verifying audit trail: %w", err)
	}
	if bad != nil {
		return int(n) - 1, bad
	}
	if n == 0 && headMAC == nil {
		return 0, nil
	}
	if headMAC == nil || !hmac.Equal(headMAC, v.headMAC(lastID, rows, prev)) || lastID != lastSeen || rows != n {
		return int(n), &AuditError{RowID: lastSeen + 1, Reason: fmt.Sprintf("trail ends at row %d but its head says %d rows ending at row %d (rows removed at the end, or the head changed)", lastSeen, rows, lastID)}
	}
	return int(n), nil
}

// ExportAudit writes the trail as JSON Lines, oldest first: id, time,
// actor, source_ip, record_id, event, outcome, hash (the row's chain MAC).
func (v *Vault) ExportAudit(ctx context.Context, w io.Writer) error {
	enc := json.NewEncoder(w)
	_, _, _, err := v.eachAudit(ctx, func(r auditRow) error {
		return enc.Encode(r)
	})
	if err != nil {
		return fmt.Errorf("exporting audit trail: %w", err)
	}
	return nil
}
