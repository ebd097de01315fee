// Package vault is Veil's encrypted record store: diverted values and secure
// form submissions sealed with Tink AEAD in SQLite, one-time reveal links,
// scheduled purge, and a hash-chained audit log.
package vault
