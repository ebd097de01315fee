//go:build !cgo

package vault

// storageErr passes errors through: without cgo there is no SQLite, and
// Open fails first with a message that says so.
func storageErr(err error) error { return err }
