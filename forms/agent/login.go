package agent

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/veilproxy/veil/vault"
)

// Login form fields and limits.
const (
	maxLoginBody   = 8 << 10
	maxAccountName = 128
	defaultNext    = "/veil/agent"
	loginPath      = "/veil/login"
	failedLogin    = "Sign-in failed. Check your name, password and code, then try again."
)

// loginPage is the data of login.html.
type loginPage struct {
	Title    string
	Message  string // a notice (logged out, blocked, too many attempts)
	Error    string // the generic failure message
	Blocked  bool   // show the message only, no form
	Continue string // a same-site link to follow (cookie bounce)
	CSRF     string
	Next     string
}

// Routes registers GET and POST /veil/login and POST /veil/logout.
func (a *Auth) Routes(mux *http.ServeMux) {
	mux.Handle("GET "+loginPath, SecurityHeaders(http.HandlerFunc(a.loginForm), a.secure))
	mux.Handle("POST "+loginPath, SecurityHeaders(http.HandlerFunc(a.loginSubmit), a.secure))
	mux.Handle("POST /veil/logout", SecurityHeaders(http.HandlerFunc(a.logout), a.secure))
}

func (a *Auth) loginForm(w http.ResponseWriter, r *http.Request) {
	sso := false
	if a.fromTrustedProxy(r) {
		_, sso = a.ssoName(r)
	} else {
		r.Header.Del(a.cfg.IdentityHeader)
	}
	if !a.allowed(r) {
		a.deny(w, r)
		return
	}
	next := safeNext(r.URL.Query().Get("next"))
	if sso || a.sessionFrom(r) != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	a.ensureCSRFCookie(w, r, func(r *http.Request) {
		p := loginPage{Title: "Agent sign-in", CSRF: a.CSRFToken(r), Next: next}
		if r.URL.Query().Get("out") == "1" {
			p.Message = "You are signed out."
		}
		a.renderLogin(w, r, http.StatusOK, p)
	})
}

func (a *Auth) loginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Header.Del(a.cfg.IdentityHeader)
	if !a.allowed(r) {
		a.deny(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		writeError(w, r, http.StatusBadRequest, "malformed sign-in form")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	if err := a.CheckCSRF(r); err != nil {
		a.log.LogAttrs(r.Context(), slog.LevelWarn, "agent login refused: csrf", slog.String("ip", a.ClientIP(r)))
		a.ensureCSRFCookie(w, r, func(r *http.Request) {
			a.renderLogin(w, r, http.StatusForbidden, loginPage{
				Title: "Agent sign-in", CSRF: a.CSRFToken(r), Next: next,
				Error: "This form expired. Please sign in again.",
			})
		})
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("username"))
	if len(name) > maxAccountName {
		name = name[:maxAccountName]
	}
	if a.Throttled(r, name) {
		a.tooMany(w, r, name)
		return
	}
	id, err := a.checkLogin(r, name, r.PostForm.Get("password"), r.PostForm.Get("code"))
	if err != nil {
		if errors.Is(err, errLoginInternal) {
			writeError(w, r, http.StatusInternalServerError, "sign-in is unavailable; try again later")
			return
		}
		a.RecordFailure(r, name)
		a.ensureCSRFCookie(w, r, func(r *http.Request) {
			a.renderLogin(w, r, http.StatusUnauthorized, loginPage{
				Title: "Agent sign-in", CSRF: a.CSRFToken(r), Next: next, Error: failedLogin,
			})
		})
		return
	}
	if old, err := r.Cookie(sessionCookie); err == nil {
		if s := a.sessions.lookup(old.Value, a.now(), a.limits()); s != nil {
			a.sessions.remove(s.key)
		}
	}
	sid, _, err := a.sessions.create(id, a.now(), a.limits())
	if err != nil {
		writeError(w, r, http.StatusInternalServerError, "sign-in is unavailable; try again later")
		return
	}
	a.setSessionCookie(w, sid)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

var (
	errLoginDenied   = errors.New("login denied")
	errLoginInternal = errors.New("login unavailable")
)

// checkLogin verifies name, password and TOTP code and records the outcome
// in the audit trail and the log. It returns the account name, an error
// wrapping errLoginDenied, or errLoginInternal when the store or the audit
// trail failed.
func (a *Auth) checkLogin(r *http.Request, name, password, code string) (string, error) {
	ctx := r.Context()
	ip := a.ClientIP(r)
	var acct vault.Account
	exists := false
	if a.store != nil && name != "" {
		got, err := a.store.GetAccount(ctx, name)
		switch {
		case err == nil:
			acct, exists = got, true
		case errors.Is(err, vault.ErrNotFound):
		default:
			a.log.LogAttrs(ctx, slog.LevelError, "agent login: reading account", slog.String("error", err.Error()))
			return "", errLoginInternal
		}
	}
	hash := acct.PasswordHash
	if !exists {
		hash = a.dummy() // spend the same time as for a real account
	}
	pwOK, err := verifyPassword(password, hash)
	if err != nil && exists {
		a.log.LogAttrs(ctx, slog.LevelError, "agent login: stored password hash unusable", slog.String("account", name))
	}
	reason := ""
	var counter uint64
	codeOK := false
	if exists {
		counter, codeOK = totpCounter(string(acct.TOTPSecret), code, a.now())
	}
	switch {
	case !exists:
		reason = "unknown account"
	case !pwOK:
		reason = "password"
	case !codeOK:
		reason = "code"
	case !a.totpUsed.use(name, counter):
		reason = "code reused"
	}
	actor := "unknown"
	if exists {
		actor = name
	}
	if reason != "" {
		a.log.LogAttrs(ctx, slog.LevelWarn, "agent login denied",
			slog.String("account", actor), slog.String("ip", ip), slog.String("reason", reason))
		_ = a.auditEvent(ctx, vault.AuditEvent{Actor: actor, SourceIP: ip, Event: "login", Outcome: "denied"})
		return "", errLoginDenied
	}
	if err := a.auditEvent(ctx, vault.AuditEvent{Actor: name, SourceIP: ip, Event: "login", Outcome: "ok"}); err != nil {
		return "", errLoginInternal // no unaudited sessions
	}
	a.log.LogAttrs(ctx, slog.LevelInfo, "agent logged in", slog.String("account", name), slog.String("ip", ip))
	return name, nil
}

// dummy is a hash of nothing anyone knows, checked for unknown accounts.
func (a *Auth) dummy() string {
	a.dummyOnce.Do(func() {
		h, err := HashPassword(b64(a.mac("dummy password")))
		if err != nil {
			h = ""
		}
		a.dummyHash = h
	})
	return a.dummyHash
}

func (a *Auth) logout(w http.ResponseWriter, r *http.Request) {
	r.Header.Del(a.cfg.IdentityHeader)
	if !a.allowed(r) {
		a.deny(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if s := a.sessionFrom(r); s != nil {
		rs := r.WithContext(contextWithSession(r.Context(), s))
		if err := a.CheckCSRF(rs); err != nil {
			writeError(w, r, http.StatusForbidden, "invalid or missing csrf token")
			return
		}
		a.sessions.remove(s.key)
		ip := a.ClientIP(r)
		_ = a.auditEvent(r.Context(), vault.AuditEvent{Actor: s.name, SourceIP: ip, Event: "logout", Outcome: "ok"})
		a.log.LogAttrs(r.Context(), slog.LevelInfo, "agent logged out", slog.String("account", s.name), slog.String("ip", ip))
	}
	a.clearSessionCookie(w)
	if WantsJSON(r) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write([]byte(`{"status":"signed out"}` + "\n"))
		return
	}
	http.Redirect(w, r, loginPath+"?out=1", http.StatusSeeOther)
}

// deny answers 403 to a client outside allow_cidrs.
func (a *Auth) deny(w http.ResponseWriter, r *http.Request) {
	a.log.LogAttrs(r.Context(), slog.LevelWarn, "agent access from a network not allowed", slog.String("ip", a.ClientIP(r)))
	if WantsJSON(r) {
		writeJSONError(w, http.StatusForbidden, "agent access is not allowed from this network")
		return
	}
	a.renderLogin(w, r, http.StatusForbidden, loginPage{
		Title:   "Access not allowed",
		Message: "Agent access is not allowed from this network.",
		Blocked: true,
	})
}

// renderLogin renders login.html with status.
func (a *Auth) renderLogin(w http.ResponseWriter, r *http.Request, status int, p loginPage) {
	var buf bytes.Buffer
	if err := a.pages.ExecuteTemplate(&buf, "login.html", p); err != nil {
		a.log.LogAttrs(r.Context(), slog.LevelError, "rendering login page", slog.String("error", err.Error()))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// safeNext returns target when it is a path on Veil's agent pages, and the
// inbox otherwise, so that the login cannot redirect anywhere else.
func safeNext(target string) string {
	if target == "" || len(target) > 2048 || !strings.HasPrefix(target, "/veil/") {
		return defaultNext
	}
	for i := 0; i < len(target); i++ {
		if c := target[i]; c < 0x21 || c == 0x7f || c == '\\' {
			return defaultNext
		}
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/veil/") || strings.Contains(u.Path, "/../") || strings.HasSuffix(u.Path, "/..") ||
		u.Path == loginPath {
		return defaultNext
	}
	return target
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
