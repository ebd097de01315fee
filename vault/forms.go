package vault

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tink-crypto/tink-go/v2/hybrid"
	"github.com/tink-crypto/tink-go/v2/keyset"
)

// PendingForm is a secure form about to be sent to a visitor.
type PendingForm struct {
	Form, Preview string
	TTL           time.Duration // how long the fill link works; 0: the vault's retention
	PurgeOnView   bool
	Actor         string
}

// FormLinks are the two links of a pending form: FillToken for the visitor,
// RevealToken for the agent. ExpiresAt is the end of the fill window; once
// submitted, the record lives until the later of ExpiresAt and the
// submission time plus the vault's retention.
type FormLinks struct {
	RecordID, FillToken, RevealToken string
	ExpiresAt                        time.Time
}

// hpkeTemplate is the per-record hybrid key: X25519, HKDF-SHA256,
// AES-256-GCM.
var hpkeTemplate = hybrid.DHKEM_X25519_HKDF_SHA256_HKDF_SHA256_AES_256_GCM_Raw_Key_Template

// CreatePending creates a form record waiting for its value. Because the
// value arrives after the reveal link is handed out, the record gets its
// own HPKE key pair: the public key is stored (sealed under the keyset) so
// that Submit can encrypt to it; the private key is stored sealed under a
// key derived from the reveal link's secret and then under the keyset, so
// only the holder of the reveal link can open the submission.
func (v *Vault) CreatePending(ctx context.Context, p PendingForm) (FormLinks, error) {
	if p.Form == "" {
		return FormLinks{}, errors.New("creating form: no form name")
	}
	if p.TTL < 0 {
		return FormLinks{}, errors.New("creating form: negative ttl")
	}
	ttl := p.TTL
	if ttl == 0 {
		ttl = v.retention
	}
	id, err := newRecordID()
	if err != nil {
		return FormLinks{}, fmt.Errorf("creating form: %w", err)
	}
	secret, revealToken, err := newToken()
	if err != nil {
		return FormLinks{}, fmt.Errorf("creating form: %w", err)
	}
	defer clear(secret)
	_, fillToken, err := newToken()
	if err != nil {
		return FormLinks{}, fmt.Errorf("creating form: %w", err)
	}
	priv, err := keyset.NewHandle(hpkeTemplate())
	if err != nil {
		return FormLinks{}, fmt.Errorf("creating form: hybrid key: %w", err)
	}
	pub, err := priv.Public()
	if err != nil {
		return FormLinks{}, fmt.Errorf("creating form: hybrid key: %w", err)
	}
	var pubBuf, privBuf bytes.Buffer
	if err := pub.WriteWithNoSecrets(keyset.NewBinaryWriter(&pubBuf)); err != nil {
		return FormLinks{}, fmt.Errorf("creating form: hybrid key: %w", err)
	}
	privAD := recordAD(KindForm, id, "priv")
	inner, err := innerAEAD(secret, privAD)
	if err != nil {
		return FormLinks{}, fmt.Errorf("creating form: %w", err)
	}
	if err := priv.WriteWithAssociatedData(keyset.NewBinaryWriter(&privBuf), inner, privAD); err != nil {
		return FormLinks{}, fmt.Errorf("creating form: sealing hybrid key: %w", err)
	}
	pubSealed, err := v.keys.encrypt(pubBuf.Bytes(), recordAD(KindForm, id, "pub"))
	if err != nil {
		return FormLinks{}, fmt.Errorf("creating form: sealing: %w", err)
	}
	privSealed, err := v.keys.encrypt(privBuf.Bytes(), privAD)
	if err != nil {
		return FormLinks{}, fmt.Errorf("creating form: sealing: %w", err)
	}
	now := v.now()
	exp := now.Add(ttl)
	err = v.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO records (id, kind, type, preview, token_hash, fill_hash, purge_on_view, created_at, expires_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, KindForm, p.Form, p.Preview, tokenHash(revealToken), tokenHash(fillToken), p.PurgeOnView, now.UnixNano(), exp.UnixNano()); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sealed (record_id, pub, priv) VALUES (?, ?, ?)`, id, pubSealed, privSealed); err != nil {
			return err
		}
		return v.appendAudit(ctx, tx, now, AuditEvent{Actor: actorOr(p.Actor, "proxy"), RecordID: id, Event: "form.create", Outcome: "ok"})
	})
	if err != nil {
		v.log.Error("vault form create failed", "form", p.Form, "err", err)
		return FormLinks{}, fmt.Errorf("creating form: %w", err)
	}
	v.log.Info("vault form created", "record", id, "form", p.Form)
	return FormLinks{RecordID: id, FillToken: fillToken, RevealToken: revealToken, ExpiresAt: exp}, nil
}

// PendingInfo describes the form behind a fill link, for the fill page's
// GET. It consumes nothing. A submitted form gives ErrConsumed.
func (v *Vault) PendingInfo(ctx context.Context, fillToken string) (Meta, error) {
	r, err := scanRow(v.r.QueryRowContext(ctx, `SELECT `+rowColumns+` FROM records WHERE fill_hash = ?`, tokenHash(fillToken)))
	if errors.Is(err, sql.ErrNoRows) {
		return Meta{}, ErrNotFound
	}
	if err != nil {
		return Meta{}, fmt.Errorf("reading form: %w", storageErr(err))
	}
	now := v.now()
	switch {
	case r.submitted.Valid || r.consumed:
		return Meta{}, ErrConsumed
	case now.UnixNano() >= r.expires:
		return Meta{}, ErrExpired
	}
	return r.meta(now), nil
}

// Submit stores a visitor's form value, encrypted to the record's public
// key and sealed under the keyset, and consumes the fill link: a second
// Submit gets ErrConsumed. oneTime marks values (CVV, PIN) that must not
// outlive their one reveal.
func (v *Vault) Submit(ctx context.Context, fillToken string, value []byte, oneTime bool, sourceIP string) error {
	if len(value) == 0 {
		return errors.New("submitting form: empty value")
	}
	h := tokenHash(fillToken)
	now := v.now()
	var refused error
	var id string
	err := v.writeTx(ctx, func(tx *sql.Tx) error {
		r, err := scanRow(tx.QueryRowContext(ctx, `SELECT `+rowColumns+` FROM records WHERE fill_hash = ?`, h))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			refused = ErrNotFound
		case err != nil:
			return err
		case r.submitted.Valid || r.consumed:
			refused = ErrConsumed
		case now.UnixNano() >= r.expires:
			refused = ErrExpired
		}
		id = r.id
		ev := AuditEvent{Actor: "visitor", SourceIP: sourceIP, RecordID: r.id, Event: "submit"}
		if refused != nil {
			ev.Outcome = outcomeOf(refused)
			return v.appendAudit(ctx, tx, now, ev)
		}
		var pubSealed []byte
		if err := tx.QueryRowContext(ctx, `SELECT pub FROM sealed WHERE record_id = ?`, r.id).Scan(&pubSealed); err != nil {
			return fmt.Errorf("reading form key: %w", err)
		}
		pubBytes, err := v.keys.decrypt(pubSealed, recordAD(KindForm, r.id, "pub"))
		if err != nil {
			return fmt.Errorf("opening form key: %w", err)
		}
		pub, err := keyset.ReadWithNoSecrets(keyset.NewBinaryReader(bytes.NewReader(pubBytes)))
		if err != nil {
			return fmt.Errorf("reading form key: %w", err)
		}
		enc, err := hybrid.NewHybridEncrypt(pub)
		if err != nil {
			return fmt.Errorf("form key: %w", err)
		}
		ad := recordAD(KindForm, r.id, "value")
		ct, err := enc.Encrypt(value, ad)
		if err != nil {
			return fmt.Errorf("sealing form value: %w", err)
		}
		sealed, err := v.keys.encrypt(ct, ad)
		if err != nil {
			return fmt.Errorf("sealing form value: %w", err)
		}
		exp := r.expires
		if keep := now.Add(v.retention).UnixNano(); keep > exp {
			exp = keep
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sealed SET value = ?, pub = NULL WHERE record_id = ?`, sealed, r.id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE records SET submitted_at = ?, one_time = ?, expires_at = ? WHERE id = ?`, now.UnixNano(), oneTime, exp, r.id); err != nil {
			return err
		}
		ev.Outcome = "ok"
		return v.appendAudit(ctx, tx, now, ev)
	})
	if err != nil {
		v.log.Error("vault form submit failed", "record", id, "err", err)
		return fmt.Errorf("submitting form: %w", err)
	}
	if refused != nil {
		v.log.Info("vault form submit refused", "outcome", outcomeOf(refused), "source_ip", sourceIP)
		return refused
	}
	v.log.Info("vault form submitted", "record", id, "source_ip", sourceIP, "one_time", oneTime)
	return nil
}

// openForm opens a submitted form value (already out of the keyset layer):
// the private key with the link secret, then the value with the private
// key.
func openForm(r row, secret, ct, privSealed []byte, keys *keyring) ([]byte, error) {
	privAD := recordAD(KindForm, r.id, "priv")
	privBytes, err := keys.decrypt(privSealed, privAD)
	if err != nil {
		return nil, fmt.Errorf("opening form key: %w", err)
	}
	inner, err := innerAEAD(secret, privAD)
	if err != nil {
		return nil, err
	}
	h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(privBytes)), inner, privAD)
	if err != nil {
		return nil, errors.New("opening form key: link secret does not open it")
	}
	dec, err := hybrid.NewHybridDecrypt(h)
	if err != nil {
		return nil, fmt.Errorf("form key: %w", err)
	}
	pt, err := dec.Decrypt(ct, recordAD(KindForm, r.id, "value"))
	if err != nil {
		return nil, errors.New("opening form value: decryption failed")
	}
	return pt, nil
}
