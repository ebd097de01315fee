package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"

	_ "github.com/mattn/go-sqlite3" // the database/sql driver; needs cgo
)

// DBFile is the name of the SQLite database in the data directory.
const DBFile = "vault.db"

// dsnParams is set on every connection: write-ahead log, a full fsync on
// every commit, a wait instead of SQLITE_BUSY, deleted content overwritten
// with zeros, and BEGIN IMMEDIATE for write transactions.
const dsnParams = "_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000&_secure_delete=on&_foreign_keys=on"

// migrations are applied in order; the version table records how many ran.
// Never edit one that has shipped: append a new one.
var migrations = []string{
	`CREATE TABLE meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE records (
	id            TEXT PRIMARY KEY,
	kind          TEXT NOT NULL,
	type          TEXT NOT NULL,
	preview       TEXT NOT NULL,
	token_hash    BLOB NOT NULL UNIQUE,
	fill_hash     BLOB UNIQUE,
	one_time      INTEGER NOT NULL DEFAULT 0,
	purge_on_view INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL,
	expires_at    INTEGER NOT NULL,
	submitted_at  INTEGER,
	revealed_at   INTEGER,
	reveals       INTEGER NOT NULL DEFAULT 0,
	consumed      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX records_expires ON records(expires_at);
CREATE INDEX records_created ON records(created_at);
CREATE TABLE sealed (
	record_id TEXT PRIMARY KEY REFERENCES records(id) ON DELETE CASCADE,
	value     BLOB,
	pub       BLOB,
	priv      BLOB
);
CREATE TABLE audit (
	id        INTEGER PRIMARY KEY,
	at        TEXT NOT NULL,
	actor     TEXT NOT NULL,
	source_ip TEXT NOT NULL,
	record_id TEXT NOT NULL,
	event     TEXT NOT NULL,
	outcome   TEXT NOT NULL,
	prev      BLOB NOT NULL,
	mac       BLOB NOT NULL
);
CREATE TABLE audit_head (
	k       INTEGER PRIMARY KEY CHECK (k = 1),
	last_id  INTEGER NOT NULL,
	rows     INTEGER NOT NULL,
	last_mac BLOB NOT NULL,
	mac      BLOB NOT NULL
);
CREATE TABLE accounts (
	name          TEXT PRIMARY KEY,
	password_hash TEXT NOT NULL,
	totp          BLOB,
	created_at    INTEGER NOT NULL
);`,
}

// openDB opens the writer (one connection) and the reader pool on path,
// checks that cgo SQLite works and that every pragma took effect, and runs
// the migrations.
func openDB(ctx context.Context, path string) (w, r *sql.DB, err error) {
	if strings.ContainsAny(path, "?#") {
		return nil, nil, errors.New("data directory path must not contain ? or #")
	}
	w, err = sql.Open("sqlite3", path+"?"+dsnParams+"&_txlock=immediate")
	if err != nil {
		return nil, nil, fmt.Errorf("opening database: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := checkSQLite(ctx, w); err != nil {
		w.Close()
		return nil, nil, err
	}
	// SQLite creates the file with the process umask; the -wal and -shm
	// files copy its mode.
	if err := os.Chmod(path, 0o600); err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("restricting database file: %w", err)
	}
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, nil, err
	}
	r, err = sql.Open("sqlite3", path+"?"+dsnParams+"&_txlock=deferred")
	if err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("opening database: %w", err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	if err := checkPragmas(ctx, r); err != nil {
		w.Close()
		r.Close()
		return nil, nil, err
	}
	return w, r, nil
}

// checkSQLite fails with a clear message when the binary was built without
// cgo (go-sqlite3 then registers a stub driver that fails every open).
func checkSQLite(ctx context.Context, db *sql.DB) error {
	var version string
	if err := db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&version); err != nil {
		if strings.Contains(err.Error(), "CGO_ENABLED") {
			return fmt.Errorf("SQLite does not work in this build: veil needs cgo (build with CGO_ENABLED=1 and a C compiler): %w", err)
		}
		return fmt.Errorf("opening database: %w", err)
	}
	return checkPragmas(ctx, db)
}

// checkPragmas verifies the DSN settings on one connection of db.
func checkPragmas(ctx context.Context, db *sql.DB) error {
	var mode string
	var sync, secure int
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("checking database settings: %w", err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		return fmt.Errorf("checking database settings: %w", err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA secure_delete").Scan(&secure); err != nil {
		return fmt.Errorf("checking database settings: %w", err)
	}
	if !strings.EqualFold(mode, "wal") || sync != 2 || secure != 1 {
		return fmt.Errorf("database settings not applied (journal_mode=%s synchronous=%d secure_delete=%d, want wal 2 1)", mode, sync, secure)
	}
	return nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrating database: %w", storageErr(err))
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrating database: %w", storageErr(err))
	}
	var version int
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return fmt.Errorf("migrating database: %w", storageErr(err))
		}
	case err != nil:
		return fmt.Errorf("migrating database: %w", storageErr(err))
	}
	if version > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this veil (%d): upgrade veil", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migrating database to version %d: %w", i+1, storageErr(err))
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, len(migrations)); err != nil {
		return fmt.Errorf("migrating database: %w", storageErr(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrating database: %w", storageErr(err))
	}
	return nil
}
