package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Account is a local agent account. TOTPSecret is sealed in the database
// under the keyset with associated data "account:"+Name.
type Account struct {
	Name, PasswordHash string
	TOTPSecret         []byte
	CreatedAt          time.Time
}

// LogValue keeps the password hash and TOTP secret out of logs.
func (a Account) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", a.Name))
}

// PutAccount creates or replaces an account. A zero CreatedAt is set to
// now.
func (v *Vault) PutAccount(ctx context.Context, a Account) error {
	if a.Name == "" || len(a.Name) > auditFieldMax {
		return errors.New("storing account: name must be 1 to 256 bytes")
	}
	var totp []byte
	if len(a.TOTPSecret) > 0 {
		var err error
		if totp, err = v.keys.encrypt(a.TOTPSecret, []byte("account:"+a.Name)); err != nil {
			return fmt.Errorf("storing account: sealing: %w", err)
		}
	}
	now := v.now()
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now
	}
	err := v.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (name, password_hash, totp, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, totp = excluded.totp, created_at = excluded.created_at`,
			a.Name, a.PasswordHash, totp, a.CreatedAt.UnixNano()); err != nil {
			return err
		}
		return v.appendAudit(ctx, tx, now, AuditEvent{Actor: a.Name, Event: "account.put", Outcome: "ok"})
	})
	if err != nil {
		return fmt.Errorf("storing account: %w", err)
	}
	return nil
}

// GetAccount returns the account called name, or ErrNotFound.
func (v *Vault) GetAccount(ctx context.Context, name string) (Account, error) {
	var a Account
	var totp []byte
	var created int64
	err := v.r.QueryRowContext(ctx, `SELECT name, password_hash, totp, created_at FROM accounts WHERE name = ?`, name).Scan(&a.Name, &a.PasswordHash, &totp, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, ErrNotFound
	}
	if err != nil {
		return Account{}, fmt.Errorf("reading account: %w", storageErr(err))
	}
	a.CreatedAt = time.Unix(0, created)
	if totp != nil {
		if a.TOTPSecret, err = v.keys.decrypt(totp, []byte("account:"+a.Name)); err != nil {
			return Account{}, fmt.Errorf("reading account: opening TOTP secret: %w", err)
		}
	}
	return a, nil
}

// ListAccounts returns the account names in order.
func (v *Vault) ListAccounts(ctx context.Context) ([]string, error) {
	rows, err := v.r.QueryContext(ctx, `SELECT name FROM accounts ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing accounts: %w", storageErr(err))
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("listing accounts: %w", err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing accounts: %w", storageErr(err))
	}
	return names, nil
}

// DeleteAccount removes an account; ErrNotFound when there is none.
func (v *Vault) DeleteAccount(ctx context.Context, name string) error {
	found := false
	err := v.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM accounts WHERE name = ?`, name)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		found = n > 0
		if !found {
			return nil
		}
		return v.appendAudit(ctx, tx, v.now(), AuditEvent{Actor: name, Event: "account.delete", Outcome: "ok"})
	})
	if err != nil {
		return fmt.Errorf("deleting account: %w", err)
	}
	if !found {
		return ErrNotFound
	}
	return nil
}
