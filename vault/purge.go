package vault

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// purgeBatch bounds one purge transaction.
const purgeBatch = 500

// Purge deletes every record past its expiry (values, form keys and the
// records themselves), audits each deletion, then checkpoints and
// truncates the WAL so that no deleted bytes remain in vault.db-wal. It
// returns how many records it removed.
func (v *Vault) Purge(ctx context.Context) (int, error) {
	total := 0
	for {
		now := v.now()
		n := 0
		err := v.writeTx(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, `SELECT id FROM records WHERE expires_at <= ? ORDER BY expires_at LIMIT ?`, now.UnixNano(), purgeBatch)
			if err != nil {
				return err
			}
			var ids []string
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, id := range ids {
				if _, err := tx.ExecContext(ctx, `DELETE FROM sealed WHERE record_id = ?`, id); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `DELETE FROM records WHERE id = ?`, id); err != nil {
					return err
				}
				if err := v.appendAudit(ctx, tx, now, AuditEvent{Actor: "purger", RecordID: id, Event: "purge", Outcome: "ok"}); err != nil {
					return err
				}
			}
			n = len(ids)
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("purging: %w", err)
		}
		total += n
		if n < purgeBatch {
			break
		}
	}
	if err := v.checkpoint(ctx); err != nil {
		return total, fmt.Errorf("purging: %w", err)
	}
	if total > 0 {
		v.log.Info("vault purged expired records", "count", total)
	}
	return total, nil
}

// RunPurger purges at once and then every interval (a minute when every is
// not positive) until ctx is done. Failures are logged and retried at the
// next tick.
func (v *Vault) RunPurger(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := v.Purge(ctx); err != nil && ctx.Err() == nil {
			v.log.Error("vault purge failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
