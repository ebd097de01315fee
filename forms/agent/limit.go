package agent

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Failure budgets: a token bucket per client address and per account name.
// Each failed login, token or reveal takes a token; an empty bucket means
// 429 until it refills.
const (
	ipBurst       = 20
	ipRefill      = 30 * time.Second // one more attempt every 30 s
	accountBurst  = 5
	accountRefill = time.Minute
	maxBuckets    = 10000 // per kind; the fullest buckets are forgotten first
	maxKeyLen     = 128
)

type bucket struct {
	tokens float64
	last   time.Time
}

// buckets is one family of token buckets.
type buckets struct {
	burst float64
	every time.Duration
	m     map[string]*bucket
}

func (b *buckets) level(k string, now time.Time) float64 {
	bk := b.m[k]
	if bk == nil {
		return b.burst
	}
	if d := now.Sub(bk.last); d > 0 {
		bk.tokens = math.Min(b.burst, bk.tokens+float64(d)/float64(b.every))
		bk.last = now
	}
	return bk.tokens
}

func (b *buckets) take(k string, now time.Time) {
	bk := b.m[k]
	if bk == nil {
		if len(b.m) >= maxBuckets {
			b.evict(now)
		}
		bk = &bucket{tokens: b.burst, last: now}
		b.m[k] = bk
	}
	b.level(k, now)
	bk.tokens = math.Max(0, bk.tokens-1)
}

// wait is how long until k has a whole token again.
func (b *buckets) wait(k string, now time.Time) time.Duration {
	l := b.level(k, now)
	if l >= 1 {
		return 0
	}
	return time.Duration((1 - l) * float64(b.every))
}

// evict forgets refilled buckets, and if none is, any bucket.
func (b *buckets) evict(now time.Time) {
	for k := range b.m {
		if b.level(k, now) >= b.burst {
			delete(b.m, k)
		}
	}
	for k := range b.m {
		if len(b.m) < maxBuckets {
			break
		}
		delete(b.m, k)
	}
}

// limiter counts failures per client address and per account.
type limiter struct {
	mu       sync.Mutex
	ip, acct buckets
}

func newLimiter() *limiter {
	return &limiter{
		ip:   buckets{burst: ipBurst, every: ipRefill, m: map[string]*bucket{}},
		acct: buckets{burst: accountBurst, every: accountRefill, m: map[string]*bucket{}},
	}
}

func limitKey(s string) string {
	if len(s) > maxKeyLen {
		return s[:maxKeyLen]
	}
	return s
}

// RetryAfter is how long r's client (and account, when not empty) must wait
// before its next attempt; 0 when it may try now.
func (a *Auth) RetryAfter(r *http.Request, account string) time.Duration {
	now := a.now()
	ip := a.ClientIP(r)
	a.failures.mu.Lock()
	defer a.failures.mu.Unlock()
	d := a.failures.ip.wait(ip, now)
	if account != "" {
		d = max(d, a.failures.acct.wait(limitKey(account), now))
	}
	return d
}

// Throttled reports whether r's client, or the account when not empty, has
// used up its budget of failed logins, tokens and reveals.
func (a *Auth) Throttled(r *http.Request, account string) bool {
	return a.RetryAfter(r, account) > 0
}

// RecordFailure counts a failed attempt against r's client and, when not
// empty, the account.
func (a *Auth) RecordFailure(r *http.Request, account string) {
	now := a.now()
	ip := a.ClientIP(r)
	a.failures.mu.Lock()
	defer a.failures.mu.Unlock()
	a.failures.ip.take(ip, now)
	if account != "" {
		a.failures.acct.take(limitKey(account), now)
	}
}

// WriteThrottled answers 429 with Retry-After (in whole seconds) for r's
// client and account: JSON for API clients, a page otherwise.
func (a *Auth) WriteThrottled(w http.ResponseWriter, r *http.Request, account string) {
	a.tooMany(w, r, account)
}

func (a *Auth) tooMany(w http.ResponseWriter, r *http.Request, account string) {
	secs := int(math.Ceil(a.RetryAfter(r, account).Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	if WantsJSON(r) {
		writeJSONError(w, http.StatusTooManyRequests, "too many failed attempts; retry later")
		return
	}
	a.renderLogin(w, r, http.StatusTooManyRequests, loginPage{
		Title:   "Too many attempts",
		Message: "Too many failed attempts. Wait a few minutes, then try again.",
		Blocked: true,
	})
}

// writeJSONError writes {"error": msg} with status.
func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// writeError writes a JSON error for API clients and plain text otherwise.
func writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if WantsJSON(r) {
		writeJSONError(w, status, msg)
		return
	}
	http.Error(w, msg, status)
}
