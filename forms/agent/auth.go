package agent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/veilproxy/veil/vault"
	"github.com/veilproxy/veil/web"
)

// AccountStore holds local agent accounts. *vault.Vault implements it.
//
// GetAccount returns an error wrapping vault.ErrNotFound when no account has
// that name. Account.TOTPSecret holds the base32 TOTP secret as text, as
// NewTOTPSecret returns it. Implementations must be safe for concurrent use.
type AccountStore interface {
	GetAccount(ctx context.Context, name string) (vault.Account, error)
	PutAccount(ctx context.Context, a vault.Account) error
}

// Auditor records security events. *vault.Vault implements it. Events carry
// no secret: never a password, code, token or session id.
type Auditor interface {
	Audit(ctx context.Context, e vault.AuditEvent) error
}

// Options are the run-time parts of an Auth that do not come from the config
// file.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives login and logout events; nil discards them.
	Logger *slog.Logger
	// SecureCookies marks cookies Secure; set it whenever Veil serves TLS.
	SecureCookies bool
}

// Identity is an authenticated agent.
type Identity struct {
	Name   string // account, API token or single sign-on name
	Method string // "token", "password" or "sso"
}

// Identity methods.
const (
	MethodToken    = "token"
	MethodPassword = "password"
	MethodSSO      = "sso"
)

// Auth authenticates agents. Sessions live in process memory: a restart
// logs every agent out. It is safe for concurrent use.
type Auth struct {
	cfg      Config
	store    AccountStore
	audit    Auditor
	now      func() time.Time
	log      *slog.Logger
	secure   bool
	allow    []netip.Prefix
	trusted  []netip.Prefix
	tokens   []tokenEntry
	key      [32]byte // HMAC key for CSRF tokens, random per process
	sessions *sessionStore
	failures *limiter
	totpUsed *replayGuard
	pages    *template.Template

	dummyOnce sync.Once
	dummyHash string
}

type tokenEntry struct {
	name string
	hash [32]byte
}

type ctxKey int

const (
	identityKey ctxKey = iota
	sessionKey
	csrfNonceKey
)

// New validates cfg and returns an Auth. store may be nil when only API
// tokens and single sign-on are used; audit may be nil to record nothing.
func New(cfg Config, store AccountStore, audit Auditor, opts Options) (*Auth, error) {
	a := &Auth{
		store:  store,
		audit:  audit,
		now:    opts.Now,
		log:    opts.Logger,
		secure: opts.SecureCookies,
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if _, err := rand.Read(a.key[:]); err != nil {
		return nil, fmt.Errorf("csrf key: %w", err)
	}
	t, err := web.Templates()
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	if t.Lookup("login.html") == nil {
		return nil, errors.New("templates: login.html missing")
	}
	a.pages = t
	a.sessions = newSessionStore()
	a.failures = newLimiter()
	a.totpUsed = newReplayGuard()
	if err := a.configure(cfg); err != nil {
		return nil, err
	}
	return a, nil
}

// WithConfig returns an Auth for a reloaded agents: section that keeps a's
// sessions, failure counts, used TOTP codes and CSRF key, so that a config
// reload neither signs agents out nor resets the rate limits. The new idle
// timeout and lifetime apply to open sessions too. a is left unchanged.
func (a *Auth) WithConfig(cfg Config) (*Auth, error) {
	b := &Auth{
		store: a.store, audit: a.audit, now: a.now, log: a.log, secure: a.secure,
		key: a.key, pages: a.pages, sessions: a.sessions, failures: a.failures, totpUsed: a.totpUsed,
	}
	if err := b.configure(cfg); err != nil {
		return nil, err
	}
	return b, nil
}

// configure validates and compiles cfg into a.
func (a *Auth) configure(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("agents config: %w", err)
	}
	a.cfg = cfg.withDefaults()
	for _, s := range a.cfg.AllowCIDRs {
		p, _ := parsePrefix(s) // validated above
		a.allow = append(a.allow, p)
	}
	for _, s := range a.cfg.TrustedProxies {
		p, _ := parsePrefix(s)
		a.trusted = append(a.trusted, p)
	}
	for _, t := range a.cfg.APITokens {
		h, _ := parseTokenHash(t.SHA256)
		a.tokens = append(a.tokens, tokenEntry{name: t.Name, hash: h})
	}
	return nil
}

// FromContext returns the agent a RequireAgent handler authenticated.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey).(Identity)
	return id, ok
}

// RequireAgent lets through only authenticated agents from allowed
// networks. It accepts, in order: an API token (Authorization: Bearer), the
// identity header from a trusted proxy, a login session cookie. Requests
// from outside allow_cidrs get 403. Without valid credentials, API clients
// (a Bearer header or Accept: application/json) get a 401 JSON error; pages
// are redirected to /veil/login?next=PATH. A bad Bearer token is never
// passed over in favour of another method. The identity header is removed
// from requests that did not come from a trusted proxy.
func (a *Auth) RequireAgent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		trustedPeer := a.fromTrustedProxy(r)
		if !trustedPeer {
			r.Header.Del(a.cfg.IdentityHeader)
		}
		if !a.allowed(r) {
			a.deny(w, r)
			return
		}
		if tok, ok := bearerToken(r); ok {
			if a.Throttled(r, "") {
				a.tooMany(w, r, "")
				return
			}
			name, ok := a.checkToken(tok)
			if !ok {
				a.RecordFailure(r, "")
				_ = a.auditEvent(r.Context(), vault.AuditEvent{Actor: "unknown", SourceIP: a.ClientIP(r), Event: "login", Outcome: "denied"})
				a.log.LogAttrs(r.Context(), slog.LevelWarn, "agent token rejected", slog.String("ip", a.ClientIP(r)))
				writeJSONError(w, http.StatusUnauthorized, "invalid API token")
				return
			}
			a.serveAs(w, r, next, Identity{Name: name, Method: MethodToken}, nil)
			return
		}
		if trustedPeer {
			if name, ok := a.ssoName(r); ok {
				a.ensureCSRFCookie(w, r, func(r *http.Request) {
					a.serveAs(w, r, next, Identity{Name: name, Method: MethodSSO}, nil)
				})
				return
			}
		}
		if s := a.sessionFrom(r); s != nil {
			// The account may have been removed since the login.
			switch err := a.accountExists(r.Context(), s.name); {
			case err == nil:
				a.serveAs(w, r, next, Identity{Name: s.name, Method: MethodPassword}, s)
				return
			case errors.Is(err, vault.ErrNotFound):
				a.sessions.remove(s.key)
			default:
				writeError(w, r, http.StatusServiceUnavailable, "agent accounts are unavailable; try again later")
				return
			}
		}
		if WantsJSON(r) {
			writeJSONError(w, http.StatusUnauthorized, "authentication required")
			return
		}
		if r.Method == http.MethodGet && r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			// A link followed from another site (the chat app) arrives
			// without the SameSite=Strict session cookie. Reload the page
			// from this origin, which sends it; a second miss goes to login.
			a.bounce(w, r)
			return
		}
		http.Redirect(w, r, "/veil/login?next="+urlQueryEscape(safeNext(r.URL.RequestURI())), http.StatusSeeOther)
	})
}

// bounce answers with a page that reloads r's URL from Veil's own origin.
func (a *Auth) bounce(w http.ResponseWriter, r *http.Request) {
	target := safeNext(r.URL.RequestURI())
	w.Header().Set("Refresh", "0; url="+target)
	a.renderLogin(w, r, http.StatusOK, loginPage{
		Title:    "Continue",
		Message:  "Opening the page…",
		Blocked:  true,
		Continue: target,
	})
}

func contextWithSession(ctx context.Context, s *session) context.Context {
	return context.WithValue(ctx, sessionKey, s)
}

func (a *Auth) serveAs(w http.ResponseWriter, r *http.Request, next http.Handler, id Identity, s *session) {
	ctx := context.WithValue(r.Context(), identityKey, id)
	if s != nil {
		ctx = contextWithSession(ctx, s)
	}
	next.ServeHTTP(w, r.WithContext(ctx))
}

// accountExists reports nil when the account name is still in the store.
func (a *Auth) accountExists(ctx context.Context, name string) error {
	if a.store == nil {
		return vault.ErrNotFound
	}
	if _, err := a.store.GetAccount(ctx, name); err != nil {
		if !errors.Is(err, vault.ErrNotFound) {
			a.log.LogAttrs(ctx, slog.LevelError, "agent session: reading account", slog.String("error", err.Error()))
		}
		return err
	}
	return nil
}

// checkToken compares the SHA-256 of tok with every configured token in
// constant time and returns the matching token's name.
func (a *Auth) checkToken(tok string) (string, bool) {
	if tok == "" {
		return "", false
	}
	sum := sha256.Sum256([]byte(tok))
	match := -1
	for i := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], a.tokens[i].hash[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return "", false
	}
	return a.tokens[match].name, true
}

// ssoName returns the trusted identity header's value when it is a usable
// name. Call it only for requests from a trusted proxy.
func (a *Auth) ssoName(r *http.Request) (string, bool) {
	name := strings.TrimSpace(r.Header.Get(a.cfg.IdentityHeader))
	if name == "" || len(name) > 256 {
		return "", false
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f {
			return "", false
		}
	}
	return name, true
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if strings.EqualFold(h, "bearer") {
		return "", true
	}
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	return strings.TrimSpace(h[7:]), true
}

// WantsJSON reports whether r comes from an API client: a Bearer header or
// an Accept header naming application/json. Pages behind agent access ask
// it too, so that a client gets errors in one format from both.
func WantsJSON(r *http.Request) bool {
	if _, ok := bearerToken(r); ok {
		return true
	}
	return strings.Contains(strings.ToLower(r.Header.Get("Accept")), "application/json")
}

// auditEvent records e; a failure is logged without the event's details.
func (a *Auth) auditEvent(ctx context.Context, e vault.AuditEvent) error {
	if a.audit == nil {
		return nil
	}
	if err := a.audit.Audit(ctx, e); err != nil {
		a.log.LogAttrs(ctx, slog.LevelError, "audit failed", slog.String("event", e.Event), slog.String("error", err.Error()))
		return err
	}
	return nil
}
