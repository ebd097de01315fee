//go:build cgo

package vault

import (
	"errors"
	"fmt"

	"github.com/mattn/go-sqlite3"
)

// storageErr adds ErrStorage and a plain explanation to SQLite errors that
// mean the database cannot take writes. SQLite's messages carry no values.
func storageErr(err error) error {
	var se sqlite3.Error
	if err == nil || !errors.As(err, &se) {
		return err
	}
	switch se.Code {
	case sqlite3.ErrFull:
		return fmt.Errorf("%w: disk or database full: %w", ErrStorage, err)
	case sqlite3.ErrReadonly:
		return fmt.Errorf("%w: database is read-only: %w", ErrStorage, err)
	case sqlite3.ErrIoErr, sqlite3.ErrCorrupt, sqlite3.ErrCantOpen, sqlite3.ErrNotADB:
		return fmt.Errorf("%w: %w", ErrStorage, err)
	case sqlite3.ErrBusy, sqlite3.ErrLocked:
		return fmt.Errorf("%w: database busy: %w", ErrStorage, err)
	}
	return err
}
