package vault

import (
	"errors"
	"fmt"
)

// Errors a caller can act on. Pages that show a link render ErrNotFound,
// ErrConsumed and ErrExpired as one identical "this link is not valid" page,
// so that a visitor cannot tell them apart.
var (
	// ErrNotFound: no record (or account) matches.
	ErrNotFound = errors.New("vault: not found")
	// ErrConsumed: the link was used already (a one-time reveal, or a form
	// already submitted).
	ErrConsumed = errors.New("vault: link already used")
	// ErrExpired: the record is past its expiry and waits for the purger.
	ErrExpired = errors.New("vault: link expired")
	// ErrWaiting: a form's reveal link was opened before the visitor
	// submitted the form. Nothing is consumed.
	ErrWaiting = errors.New("vault: form not submitted yet")
	// ErrNoMasterKey: the configured master key source is empty.
	ErrNoMasterKey = errors.New("vault: no master key")
	// ErrBadMasterKey: the master key is not 32 bytes of standard base64,
	// or does not open this vault's keyset.
	ErrBadMasterKey = errors.New("vault: bad master key")
	// ErrStorage marks a failure of the database itself (disk full,
	// read-only file, I/O error). Callers fail closed: the message is
	// refused.
	ErrStorage = errors.New("vault storage unavailable")
)

// AuditError is returned by VerifyAudit when the hash chain is broken. RowID
// is the first row that fails (the row after a deleted one, or 0 when rows
// were removed from the end).
type AuditError struct {
	RowID  int64
	Reason string
}

func (e *AuditError) Error() string {
	if e.RowID == 0 {
		return fmt.Sprintf("audit trail broken: %s", e.Reason)
	}
	return fmt.Sprintf("audit trail broken at row %d: %s", e.RowID, e.Reason)
}
