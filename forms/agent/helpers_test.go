package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/veilproxy/veil/vault"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fixture is an Auth on a real vault, served by a real HTTP server.
type fixture struct {
	t     *testing.T
	auth  *Auth
	vault *vault.Vault
	clock *clock
	logs  *syncBuffer
	srv   *httptest.Server
	mux   http.Handler
}

// testToken is the API token whose hash the fixtures configure.
const testToken = "vt_0123456789abcdefghijklmnopqrstuvwxyzABCDEF"

func tokenHash(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

func openVault(t *testing.T) *vault.Vault {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(context.Background(), t.TempDir(), key, vault.Options{})
	if err != nil {
		t.Fatalf("vault.Open: %v", err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

// newFixture builds the fixture; cfg gets the test token unless it has
// tokens of its own.
func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	if cfg.APITokens == nil {
		cfg.APITokens = []APIToken{{Name: "helpdesk-bot", SHA256: tokenHash(testToken)}}
	}
	f := &fixture{t: t, vault: openVault(t), clock: newClock(), logs: &syncBuffer{}}
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(cfg, f.vault, f.vault, Options{Now: f.clock.Now, Logger: logger})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.auth = a
	mux := http.NewServeMux()
	a.Routes(mux)
	mux.Handle("GET /veil/agent", a.RequireAgent(http.HandlerFunc(whoami)))
	mux.Handle("POST /veil/agent/act", a.RequireAgent(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := a.CheckCSRF(r); err != nil {
			http.Error(w, "csrf", http.StatusForbidden)
			return
		}
		whoami(w, r)
	})))
	f.mux = SecurityHeaders(mux, false)
	f.srv = httptest.NewServer(f.mux)
	t.Cleanup(f.srv.Close)
	return f
}

// whoami answers the identity, the CSRF token and the identity header it
// was given.
func whoami(w http.ResponseWriter, r *http.Request) {
	id, ok := FromContext(r.Context())
	if !ok {
		http.Error(w, "no identity", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"name": id.Name, "method": id.Method, "header": r.Header.Get(DefaultIdentityHeader),
	})
}

// addAccount stores an account with a cheap hash and returns its TOTP
// secret.
func (f *fixture) addAccount(name, password string) string {
	f.t.Helper()
	secret, _, err := NewTOTPSecret(name, "Veil test")
	if err != nil {
		f.t.Fatal(err)
	}
	h, err := hashPassword(password, argonParams{memory: 8 * 1024, time: 1, threads: 1, keyLen: 32, saltLen: 16})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.vault.PutAccount(context.Background(), vault.Account{Name: name, PasswordHash: h, TOTPSecret: []byte(secret)}); err != nil {
		f.t.Fatal(err)
	}
	return secret
}

func (f *fixture) code(secret string) string {
	f.t.Helper()
	c, err := totp.GenerateCode(secret, f.clock.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// headerCheck fails the test when a response lacks a security header.
type headerCheck struct {
	t    *testing.T
	next http.RoundTripper
}

func (h headerCheck) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := h.next.RoundTrip(r)
	if err == nil {
		checkSecurityHeaders(h.t, resp.Header, r.Method+" "+r.URL.Path)
	}
	return resp, err
}

func checkSecurityHeaders(t *testing.T, h http.Header, what string) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
		"X-Frame-Options":         "DENY",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}

// client is a browser-like client with a cookie jar that does not follow
// redirects and checks the security headers of every response.
func (f *fixture) client() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		Transport:     headerCheck{t: f.t, next: http.DefaultTransport},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (f *fixture) do(c *http.Client, req *http.Request) (*http.Response, string) {
	f.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, string(body)
}

func (f *fixture) get(c *http.Client, path string, hdr ...string) (*http.Response, string) {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return f.do(c, req)
}

func (f *fixture) post(c *http.Client, path string, form url.Values, hdr ...string) (*http.Response, string) {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return f.do(c, req)
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

// loginCSRF opens the login page and returns its CSRF token.
func (f *fixture) loginCSRF(c *http.Client) string {
	f.t.Helper()
	resp, body := f.get(c, "/veil/login")
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("GET /veil/login: %d", resp.StatusCode)
	}
	m := csrfInput.FindStringSubmatch(body)
	if m == nil || m[1] == "" {
		f.t.Fatalf("login page has no csrf token")
	}
	return html.UnescapeString(m[1])
}

// login signs in through the form and returns the response.
func (f *fixture) login(c *http.Client, name, password, code string) (*http.Response, string) {
	f.t.Helper()
	tok := f.loginCSRF(c)
	return f.post(c, "/veil/login", url.Values{
		"csrf_token": {tok}, "username": {name}, "password": {password}, "code": {code}, "next": {"/veil/agent"},
	})
}

// auditRows returns the exported audit trail.
func (f *fixture) auditRows() []map[string]string {
	f.t.Helper()
	var buf bytes.Buffer
	if err := f.vault.ExportAudit(context.Background(), &buf); err != nil {
		f.t.Fatal(err)
	}
	var rows []map[string]string
	dec := json.NewDecoder(&buf)
	for dec.More() {
		var raw map[string]any
		if err := dec.Decode(&raw); err != nil {
			f.t.Fatal(err)
		}
		row := map[string]string{}
		for k, v := range raw {
			if s, ok := v.(string); ok {
				row[k] = s
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// loginEvents returns the audit rows of login and logout events as
// "event actor outcome".
func (f *fixture) loginEvents() []string {
	var out []string
	for _, r := range f.auditRows() {
		if r["event"] == "login" || r["event"] == "logout" {
			out = append(out, r["event"]+" "+r["actor"]+" "+r["outcome"])
		}
	}
	return out
}

func withIdentity(r *http.Request, id Identity) context.Context {
	return context.WithValue(r.Context(), identityKey, id)
}
