package agent

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
)

// CSRF token transport: a hidden form field, or a header for scripts.
const (
	CSRFField  = "csrf_token"
	CSRFHeader = "X-CSRF-Token"
)

// csrfCookie holds the signed nonce of the double-submit token used by
// forms shown to someone without a login session.
const csrfCookie = "veil_csrf"

// ErrCSRF reports a missing or wrong CSRF token.
var ErrCSRF = errors.New("missing or invalid csrf token")

func (a *Auth) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, a.key[:])
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// signedNonce returns the nonce of a well-formed, correctly signed CSRF
// cookie value.
func (a *Auth) signedNonce(v string) (string, bool) {
	nonce, sig, ok := strings.Cut(v, ".")
	if !ok || len(nonce) != 43 || len(sig) != 43 {
		return "", false
	}
	want := b64(a.mac("cookie", nonce))
	if subtle.ConstantTimeCompare([]byte(sig), []byte(want)) != 1 {
		return "", false
	}
	return nonce, true
}

// cookieNonce returns the nonce of r's CSRF cookie, if it carries a valid one.
func (a *Auth) cookieNonce(r *http.Request) (string, bool) {
	c, err := r.Cookie(csrfCookie)
	if err != nil {
		return "", false
	}
	return a.signedNonce(c.Value)
}

// ensureCSRFCookie makes sure the client holds a signed CSRF cookie, setting
// a new one when it sent none, and calls fn with the request carrying the
// nonce.
func (a *Auth) ensureCSRFCookie(w http.ResponseWriter, r *http.Request, fn func(*http.Request)) {
	nonce, ok := a.cookieNonce(r)
	if !ok {
		var raw [32]byte
		if _, err := rand.Read(raw[:]); err != nil {
			writeError(w, r, http.StatusInternalServerError, "internal error")
			return
		}
		nonce = b64(raw[:])
		http.SetCookie(w, &http.Cookie{
			Name:     csrfCookie,
			Value:    nonce + "." + b64(a.mac("cookie", nonce)),
			Path:     "/veil/",
			Secure:   a.secure,
			HttpOnly: true,
			SameSite: http.SameSiteStrictMode,
		})
	}
	fn(r.WithContext(context.WithValue(r.Context(), csrfNonceKey, nonce)))
}

// WithCSRFCookie wraps the handlers of forms shown without a login (the
// visitor's fill page): it gives the browser a signed CSRF cookie when it
// has none, so that CSRFToken works on the GET and CheckCSRF on the POST.
// Pages behind RequireAgent and the login page need no wrapping.
func (a *Auth) WithCSRFCookie(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.ensureCSRFCookie(w, r, func(r *http.Request) { next.ServeHTTP(w, r) })
	})
}

// csrfExpected computes the token r must carry. minted allows a nonce that
// was created for this very response (for rendering, never for checking).
func (a *Auth) csrfExpected(r *http.Request, minted bool) (string, bool) {
	if s, ok := r.Context().Value(sessionKey).(*session); ok && s != nil {
		return b64(a.mac("session", string(s.key[:]))), true
	}
	nonce, ok := a.cookieNonce(r)
	if !ok && minted {
		nonce, ok = r.Context().Value(csrfNonceKey).(string)
	}
	if !ok {
		return "", false
	}
	bound := ""
	if id, ok := FromContext(r.Context()); ok && id.Method == MethodSSO {
		bound = id.Name
	}
	return b64(a.mac("form", nonce, bound)), true
}

// CSRFToken returns the token to put in the CSRFField of a form rendered
// for r. For a logged-in agent (a request that passed RequireAgent with a
// session) it is bound to the session; otherwise it is a double-submit
// token bound to the signed CSRF cookie, which RequireAgent (single
// sign-on), the login page and WithCSRFCookie set. It returns "" when r has
// neither, which CheckCSRF always refuses.
func (a *Auth) CSRFToken(r *http.Request) string {
	tok, _ := a.csrfExpected(r, true)
	return tok
}

// CheckCSRF verifies the CSRF token of a state-changing request, taken from
// the X-CSRF-Token header or else the csrf_token form field (which parses
// the body: limit its size first). Requests authenticated by an API token
// carry no cookie and need no token. It returns an error wrapping ErrCSRF.
func (a *Auth) CheckCSRF(r *http.Request) error {
	if id, ok := FromContext(r.Context()); ok && id.Method == MethodToken {
		return nil
	}
	want, ok := a.csrfExpected(r, false)
	if !ok {
		return ErrCSRF
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		got = r.PostFormValue(CSRFField)
	}
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return ErrCSRF
	}
	return nil
}
