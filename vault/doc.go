// Package vault is Veil's encrypted record store: diverted values and secure
// form submissions sealed with Tink AEAD in SQLite, one-time reveal links,
// scheduled purge, and a hash-chained audit log.
//
// # Keys
//
// A 32-byte master key (standard base64, from an environment variable or a
// file, never the config file) encrypts a Tink AES-256-GCM keyset stored in
// the data directory as vault.keyset. RotateKey adds a new primary key to
// that keyset; older keys stay so that older records open. Without the
// master key the keyset, and so every record, is lost for good.
//
// # Split knowledge
//
// Every record has two layers. The inner layer is keyed from a 256-bit
// secret that exists only in the record's reveal link: captured values are
// sealed with AES-256-GCM under HKDF(secret); form records get their own
// HPKE key pair whose private key is sealed under HKDF(secret), so that the
// visitor's later submission can be encrypted to the public key. The outer
// layer is the keyset. The database keeps a SHA-256 hash of each link, never
// the link. A copy of the database with the master key opens nothing
// without the link; a link without the database opens nothing. Associated
// data binds every ciphertext to its record id, kind and part.
//
// # Storage
//
// One SQLite file (vault.db) in WAL mode with synchronous=FULL and
// secure_delete=on on every connection; all writes go through one
// connection in immediate transactions, reads through a small pool.
// Reveals of PurgeOnView and OneTime records read and delete in one
// transaction, and deletions are followed by wal_checkpoint(TRUNCATE) so
// that no deleted bytes remain in vault.db-wal.
//
// # Errors
//
// Links that do not work give ErrNotFound, ErrConsumed or ErrExpired (pages
// show one identical answer for all three); a form not yet submitted gives
// ErrWaiting; failures of the disk or database carry ErrStorage. No error
// or log line carries a value, a token or a key.
package vault
