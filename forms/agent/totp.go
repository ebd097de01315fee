package agent

import (
	"crypto/subtle"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters (RFC 6238 defaults, what authenticator apps expect).
const (
	totpPeriod = 30 // seconds
	totpSkew   = 1  // periods accepted either side of now, for clock drift
)

// NewTOTPSecret makes a TOTP secret for account name. It returns the base32
// secret (to store in vault.Account.TOTPSecret and to type into an
// authenticator) and the otpauth:// URL to show as a QR code.
func NewTOTPSecret(name, issuer string) (secret string, otpauthURL string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: name,
		Period:      totpPeriod,
		SecretSize:  20,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", "", fmt.Errorf("generating totp secret: %w", err)
	}
	return key.Secret(), key.URL(), nil
}

// totpCounter returns the time step whose code equals code, within totpSkew
// steps of now. Every candidate is computed and compared in constant time.
func totpCounter(secret, code string, now time.Time) (uint64, bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return 0, false
	}
	opts := hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	cur := uint64(now.Unix()) / totpPeriod
	var found uint64
	ok := false
	for c := cur - totpSkew; c <= cur+totpSkew; c++ {
		want, err := hotp.GenerateCodeCustom(secret, c, opts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !ok {
			found, ok = c, true
		}
	}
	return found, ok
}

// replayGuard remembers, per account, the last time step whose code was
// accepted, so that no code is accepted twice (RFC 6238 section 5.2).
// It lives in memory: right after a restart, a code seen in the last
// minute could be used once more, still only with the right password.
type replayGuard struct {
	mu   sync.Mutex
	last map[string]uint64
}

func newReplayGuard() *replayGuard { return &replayGuard{last: map[string]uint64{}} }

// use records counter for account and reports false when it, or a later
// step, was already used.
func (g *replayGuard) use(account string, counter uint64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if last, seen := g.last[account]; seen && counter <= last {
		return false
	}
	g.last[account] = counter
	return true
}
