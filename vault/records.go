package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Record kinds.
const (
	KindCapture = "capture" // a value diverted from a message
	KindForm    = "form"    // a secure form submission
)

// Record states in Meta.State.
const (
	StateWaiting   = "waiting"   // a form not yet submitted
	StateSubmitted = "submitted" // a value is stored and can be revealed
	StateRevealed  = "revealed"  // revealed at least once
	StateExpired   = "expired"   // past its expiry, waiting for the purger
)

// NewRecord is a value to seal.
type NewRecord struct {
	Kind        string        // "capture" (diverted value) or "form"
	Type        string        // detector type, or form name
	Preview     string        // masked, safe to show ("card ending 1111")
	Value       []byte        // the secret; sealed, never stored in the clear
	OneTime     bool          // CVV, PIN, track data: never kept past one reveal, whatever the retention
	PurgeOnView bool          // deleted in the same transaction as its reveal
	TTL         time.Duration // 0: the vault's retention
	Actor       string        // who caused it, for the audit trail ("proxy", an agent name)
}

// Link is what Put hands back. Token is the reveal secret (256 bits,
// URL-safe): the vault keeps only its hash, and the record cannot be opened
// without it.
type Link struct {
	RecordID, Token string
	ExpiresAt       time.Time
}

// Meta describes a record without its value.
type Meta struct {
	RecordID, Kind, Type, Preview, State string
	CreatedAt, ExpiresAt, SubmittedAt    time.Time // SubmittedAt is zero while a form waits
}

// Revealed is a record with its value.
type Revealed struct {
	Meta
	Value []byte
}

// LogValue keeps the value out of logs.
func (r Revealed) LogValue() slog.Value {
	return slog.GroupValue(slog.String("record", r.RecordID), slog.String("type", r.Type))
}

// Put seals rec.Value under a fresh link secret and the vault keyset and
// stores it. The value exists in the database only as
// Tink(AES-GCM_linkkey(value)); the link secret is returned once in the Link.
func (v *Vault) Put(ctx context.Context, rec NewRecord) (Link, error) {
	if rec.Kind == "" {
		rec.Kind = KindCapture
	}
	if len(rec.Value) == 0 {
		return Link{}, errors.New("storing record: empty value")
	}
	if rec.TTL < 0 {
		return Link{}, errors.New("storing record: negative ttl")
	}
	ttl := rec.TTL
	if ttl == 0 {
		ttl = v.retention
	}
	id, err := newRecordID()
	if err != nil {
		return Link{}, fmt.Errorf("storing record: %w", err)
	}
	secret, token, err := newToken()
	if err != nil {
		return Link{}, fmt.Errorf("storing record: %w", err)
	}
	ad := recordAD(rec.Kind, id, "value")
	inner, err := innerAEAD(secret, ad)
	clear(secret)
	if err != nil {
		return Link{}, fmt.Errorf("storing record: %w", err)
	}
	ct, err := inner.Encrypt(rec.Value, ad)
	if err != nil {
		return Link{}, fmt.Errorf("storing record: sealing: %w", err)
	}
	sealed, err := v.keys.encrypt(ct, ad)
	if err != nil {
		return Link{}, fmt.Errorf("storing record: sealing: %w", err)
	}
	now := v.now()
	exp := now.Add(ttl)
	err = v.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO records (id, kind, type, preview, token_hash, one_time, purge_on_view, created_at, expires_at, submitted_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, rec.Kind, rec.Type, rec.Preview, tokenHash(token), rec.OneTime, rec.PurgeOnView, now.UnixNano(), exp.UnixNano(), now.UnixNano()); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sealed (record_id, value) VALUES (?, ?)`, id, sealed); err != nil {
			return err
		}
		return v.appendAudit(ctx, tx, now, AuditEvent{Actor: actorOr(rec.Actor, "proxy"), RecordID: id, Event: "create", Outcome: "ok"})
	})
	if err != nil {
		v.log.Error("vault store failed", "kind", rec.Kind, "type", rec.Type, "err", err)
		return Link{}, fmt.Errorf("storing record: %w", err)
	}
	v.log.Info("vault record stored", "record", id, "kind", rec.Kind, "type", rec.Type, "one_time", rec.OneTime, "purge_on_view", rec.PurgeOnView)
	return Link{RecordID: id, Token: token, ExpiresAt: exp}, nil
}

// row is a records row.
type row struct {
	id, kind, typ, preview         string
	oneTime, purgeOnView, consumed bool
	created, expires               int64
	submitted, revealed            sql.NullInt64
	reveals                        int
}

const rowColumns = `id, kind, type, preview, one_time, purge_on_view, consumed, created_at, expires_at, submitted_at, revealed_at, reveals`

type scanner interface{ Scan(dest ...any) error }

func scanRow(s scanner) (row, error) {
	var r row
	err := s.Scan(&r.id, &r.kind, &r.typ, &r.preview, &r.oneTime, &r.purgeOnView, &r.consumed, &r.created, &r.expires, &r.submitted, &r.revealed, &r.reveals)
	return r, err
}

func (r row) meta(now time.Time) Meta {
	m := Meta{RecordID: r.id, Kind: r.kind, Type: r.typ, Preview: r.preview,
		CreatedAt: time.Unix(0, r.created), ExpiresAt: time.Unix(0, r.expires)}
	if r.submitted.Valid {
		m.SubmittedAt = time.Unix(0, r.submitted.Int64)
	}
	switch {
	case now.UnixNano() >= r.expires:
		m.State = StateExpired
	case !r.submitted.Valid:
		m.State = StateWaiting
	case r.reveals > 0 || r.consumed:
		m.State = StateRevealed
	default:
		m.State = StateSubmitted
	}
	return m
}

// status maps a row to the error a reveal link gets, nil when it can be
// revealed (or, for a waiting form, peeked at).
func (r row) status(now time.Time) error {
	switch {
	case r.consumed:
		return ErrConsumed
	case now.UnixNano() >= r.expires:
		return ErrExpired
	}
	return nil
}

// Peek returns a record's description for the reveal page's GET. It
// consumes nothing. A form still waiting for the visitor comes back with
// State "waiting" and no error. Unknown, used and expired links give
// ErrNotFound, ErrConsumed and ErrExpired.
func (v *Vault) Peek(ctx context.Context, revealToken string) (Meta, error) {
	h := tokenHash(revealToken)
	r, err := scanRow(v.r.QueryRowContext(ctx, `SELECT `+rowColumns+` FROM records WHERE token_hash = ?`, h))
	if errors.Is(err, sql.ErrNoRows) {
		return Meta{}, ErrNotFound
	}
	if err != nil {
		return Meta{}, fmt.Errorf("reading record: %w", storageErr(err))
	}
	now := v.now()
	if err := r.status(now); err != nil {
		return Meta{}, err
	}
	return r.meta(now), nil
}

// Reveal opens a record with its link. When the record is PurgeOnView or
// OneTime, the read and the delete are one transaction: of any number of
// concurrent calls with one token exactly one succeeds and the others get
// ErrConsumed. Other records can be revealed again until they expire.
// Every attempt is audited with actor and sourceIP.
func (v *Vault) Reveal(ctx context.Context, revealToken, actor, sourceIP string) (Revealed, error) {
	return v.reveal(ctx, revealToken, actor, sourceIP, false)
}

// RevealFirst is Reveal for records whose page may be shown only once even
// though they are kept (an on_schedule form submission): it refuses with
// ErrConsumed when the record has been revealed before. The check and the
// reveal are one write transaction, so of two concurrent calls exactly one
// succeeds.
func (v *Vault) RevealFirst(ctx context.Context, revealToken, actor, sourceIP string) (Revealed, error) {
	return v.reveal(ctx, revealToken, actor, sourceIP, true)
}

func (v *Vault) reveal(ctx context.Context, revealToken, actor, sourceIP string, once bool) (Revealed, error) {
	h := tokenHash(revealToken)
	secret, wellFormed := tokenSecret(revealToken)
	now := v.now()
	var out Revealed
	var refused error
	var auditEv AuditEvent
	purged := false
	err := v.writeTx(ctx, func(tx *sql.Tx) error {
		r, err := scanRow(tx.QueryRowContext(ctx, `SELECT `+rowColumns+` FROM records WHERE token_hash = ?`, h))
		switch {
		case errors.Is(err, sql.ErrNoRows) || (err == nil && !wellFormed):
			refused = ErrNotFound
		case err != nil:
			return err
		default:
			refused = r.status(now)
			if refused == nil && !r.submitted.Valid {
				refused = ErrWaiting
			}
			if refused == nil && once && r.reveals > 0 {
				refused = ErrConsumed
			}
		}
		ev := AuditEvent{Actor: actor, SourceIP: sourceIP, RecordID: r.id, Event: "reveal"}
		if refused != nil {
			ev.Outcome = outcomeOf(refused)
			return v.appendAudit(ctx, tx, now, ev)
		}
		var value, priv []byte
		if err := tx.QueryRowContext(ctx, `SELECT value, priv FROM sealed WHERE record_id = ?`, r.id).Scan(&value, &priv); err != nil {
			return fmt.Errorf("reading sealed value: %w", err)
		}
		pt, err := v.open(r, secret, value, priv)
		if err != nil {
			auditEv = AuditEvent{Actor: actor, SourceIP: sourceIP, RecordID: r.id, Event: "reveal", Outcome: "error"}
			return err
		}
		if r.oneTime || r.purgeOnView {
			if _, err := tx.ExecContext(ctx, `DELETE FROM sealed WHERE record_id = ?`, r.id); err != nil {
				clear(pt)
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE records SET consumed = 1, revealed_at = ?, reveals = reveals + 1 WHERE id = ?`, now.UnixNano(), r.id); err != nil {
				clear(pt)
				return err
			}
			purged = true
			r.consumed = true
		} else {
			if _, err := tx.ExecContext(ctx, `UPDATE records SET revealed_at = COALESCE(revealed_at, ?), reveals = reveals + 1 WHERE id = ?`, now.UnixNano(), r.id); err != nil {
				clear(pt)
				return err
			}
		}
		r.reveals++
		ev.Outcome = "ok"
		if err := v.appendAudit(ctx, tx, now, ev); err != nil {
			clear(pt)
			return err
		}
		out = Revealed{Meta: r.meta(now), Value: pt}
		return nil
	})
	clear(secret)
	if err != nil {
		if auditEv.Event != "" {
			if aerr := v.Audit(ctx, auditEv); aerr != nil {
				v.log.Error("vault audit failed", "err", aerr)
			}
		}
		v.log.Error("vault reveal failed", "err", err)
		return Revealed{}, fmt.Errorf("revealing record: %w", err)
	}
	if refused != nil {
		v.log.Info("vault reveal refused", "outcome", outcomeOf(refused), "actor", actor, "source_ip", sourceIP)
		return Revealed{}, refused
	}
	v.log.Info("vault record revealed", "record", out.RecordID, "actor", actor, "source_ip", sourceIP, "purged", purged)
	if purged {
		if err := v.checkpoint(ctx); err != nil {
			v.log.Warn("vault checkpoint after reveal failed", "err", err)
		}
	}
	return out, nil
}

// open removes both layers of a record: the keyset layer, then the link
// layer (an AES-GCM key derived from the link secret for captures; the
// per-record HPKE private key, itself sealed under that key, for forms).
func (v *Vault) open(r row, secret, value, priv []byte) ([]byte, error) {
	if value == nil {
		return nil, errors.New("record has no sealed value")
	}
	ad := recordAD(r.kind, r.id, "value")
	inner, err := v.keys.decrypt(value, ad)
	if err != nil {
		return nil, fmt.Errorf("opening record: %w", err)
	}
	if r.kind == KindForm {
		return openForm(r, secret, inner, priv, v.keys)
	}
	a, err := innerAEAD(secret, ad)
	if err != nil {
		return nil, err
	}
	pt, err := a.Decrypt(inner, ad)
	if err != nil {
		return nil, errors.New("opening record: link secret does not open it")
	}
	return pt, nil
}

// List returns up to limit records, newest first, without values.
func (v *Vault) List(ctx context.Context, limit int) ([]Meta, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := v.r.QueryContext(ctx, `SELECT `+rowColumns+` FROM records ORDER BY created_at DESC, id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("listing records: %w", storageErr(err))
	}
	defer rows.Close()
	now := v.now()
	var out []Meta
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, fmt.Errorf("listing records: %w", err)
		}
		out = append(out, r.meta(now))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing records: %w", storageErr(err))
	}
	return out, nil
}

func outcomeOf(err error) string {
	switch {
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrConsumed):
		return "consumed"
	case errors.Is(err, ErrExpired):
		return "expired"
	case errors.Is(err, ErrWaiting):
		return "waiting"
	}
	return "error"
}

func actorOr(actor, def string) string {
	if actor == "" {
		return def
	}
	return actor
}

// Count returns how many records the vault holds (waiting, stored,
// revealed or expired but not yet purged), for metrics.
func (v *Vault) Count(ctx context.Context) (int, error) {
	var n int
	if err := v.r.QueryRowContext(ctx, `SELECT count(*) FROM records`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting records: %w", storageErr(err))
	}
	return n, nil
}
