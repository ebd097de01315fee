package agent

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password policy.
const (
	MinPasswordLen = 12   // characters
	MaxPasswordLen = 1024 // bytes; longer input is refused before hashing
)

// commonPasswords is a list of well-known passwords, one a line, lower case.
//
//go:embed common-passwords.txt
var commonPasswords []byte

// ErrWeakPassword is returned by CheckPasswordPolicy.
var ErrWeakPassword = errors.New("password does not meet the policy")

// argon2id parameters for new hashes (RFC 9106, second recommended option,
// with 2 lanes). Hashes record their own parameters, so they can change.
type argonParams struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	keyLen  uint32
	saltLen int
}

var defaultArgon = argonParams{memory: 64 * 1024, time: 3, threads: 2, keyLen: 32, saltLen: 16}

// CheckPasswordPolicy returns an error wrapping ErrWeakPassword when pw is
// shorter than MinPasswordLen characters, longer than MaxPasswordLen bytes,
// or one of the bundled common passwords (compared ignoring case and
// surrounding space). The error never contains the password.
func CheckPasswordPolicy(pw string) error {
	if !utf8.ValidString(pw) {
		return fmt.Errorf("%w: not valid UTF-8", ErrWeakPassword)
	}
	if n := utf8.RuneCountInString(pw); n < MinPasswordLen {
		return fmt.Errorf("%w: at least %d characters needed, got %d", ErrWeakPassword, MinPasswordLen, n)
	}
	if len(pw) > MaxPasswordLen {
		return fmt.Errorf("%w: at most %d bytes", ErrWeakPassword, MaxPasswordLen)
	}
	if isCommonPassword(pw) {
		return fmt.Errorf("%w: it is on the list of common passwords", ErrWeakPassword)
	}
	return nil
}

func isCommonPassword(pw string) bool {
	want := []byte(strings.ToLower(strings.TrimSpace(pw)))
	sc := bufio.NewScanner(bytes.NewReader(commonPasswords))
	for sc.Scan() {
		if bytes.Equal(sc.Bytes(), want) {
			return true
		}
	}
	return false
}

// HashPassword returns the argon2id hash of pw in the PHC string format:
// $argon2id$v=19$m=65536,t=3,p=2$SALT$HASH (unpadded standard base64).
// It does not check the policy.
func HashPassword(pw string) (string, error) {
	return hashPassword(pw, defaultArgon)
}

func hashPassword(pw string, p argonParams) (string, error) {
	if len(pw) > MaxPasswordLen {
		return "", fmt.Errorf("hashing password: longer than %d bytes", MaxPasswordLen)
	}
	salt := make([]byte, p.saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hashing password: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, p.keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// errBadHash reports a stored hash that is not an argon2id PHC string Veil
// can check.
var errBadHash = errors.New("unsupported password hash")

// parseHash splits a PHC argon2id string into its parameters, salt and key.
// It bounds the parameters so that a corrupt hash cannot make a login
// allocate without limit.
func parseHash(encoded string) (argonParams, []byte, []byte, error) {
	var p argonParams
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, errBadHash
	}
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &threads); err != nil || n != 3 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", p.memory, p.time, threads) != parts[3] {
		return p, nil, nil, errBadHash
	}
	if p.memory < 8 || p.memory > 1<<21 || p.time < 1 || p.time > 32 || threads < 1 || threads > 32 {
		return p, nil, nil, errBadHash
	}
	p.threads = uint8(threads)
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, nil, nil, errBadHash
	}
	key, err := enc.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errBadHash
	}
	p.keyLen = uint32(len(key))
	p.saltLen = len(salt)
	return p, salt, key, nil
}

// verifyPassword reports whether pw matches the PHC-encoded argon2id hash,
// comparing in constant time.
func verifyPassword(pw, encoded string) (bool, error) {
	if len(pw) > MaxPasswordLen {
		return false, nil
	}
	p, salt, key, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, p.keyLen)
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}
