package forms

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

	"github.com/veilproxy/veil/forms/agent"
	"github.com/veilproxy/veil/vault"
)

// syncBuffer is a log sink safe for concurrent handlers.
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

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Test agent credentials.
const (
	testAPIToken = "tok-3f9c1d2e8a7b6c5d4e3f2a1b0c9d8e7f"
	testAgent    = "dana"
	testPassword = "correct horse battery staple 42"
)

// env is a Veil forms server on an httptest server with a real vault in a
// temporary directory and real agent auth.
type env struct {
	t          *testing.T
	srv        *httptest.Server
	mux        *http.ServeMux
	vault      *vault.Vault
	auth       *agent.Auth
	forms      *Server
	logs       *syncBuffer
	clock      *clock
	totpSecret string
}

type envOption func(*Options, *[]FormSpec)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clk := &clock{t: time.Now().UTC()}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(ctx, t.TempDir(), key, vault.Options{Now: clk.Now, Logger: logger})
	if err != nil {
		t.Fatalf("vault.Open: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	sum := sha256.Sum256([]byte(testAPIToken))
	auth, err := agent.New(agent.Config{
		APITokens: []agent.APIToken{{Name: "helpdesk-bot", SHA256: hex.EncodeToString(sum[:])}},
	}, v, v, agent.Options{Now: clk.Now, Logger: logger})
	if err != nil {
		t.Fatalf("agent.New: %v", err)
	}
	secret, _, err := agent.NewTOTPSecret(testAgent, "Veil")
	if err != nil {
		t.Fatal(err)
	}
	hash, err := agent.HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.PutAccount(ctx, vault.Account{Name: testAgent, PasswordHash: hash, TOTPSecret: []byte(secret), CreatedAt: clk.Now()}); err != nil {
		t.Fatalf("PutAccount: %v", err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	srv.Start()
	t.Cleanup(srv.Close)
	o := Options{Vault: v, Auth: auth, PublicURL: srv.URL, Logger: logger, Now: clk.Now}
	var specs []FormSpec
	for _, opt := range opts {
		opt(&o, &specs)
	}
	fs, err := New(specs, o)
	if err != nil {
		t.Fatalf("forms.New: %v", err)
	}
	fs.Routes(mux)
	auth.Routes(mux)
	e := &env{srv: srv, mux: mux, vault: v, auth: auth, forms: fs, logs: logs, clock: clk, totpSecret: secret}
	if tt, ok := t.(*testing.T); ok {
		e.t = tt
	}
	return e
}

// client returns a browser-like client with its own cookie jar that does
// not follow redirects.
func (e *env) client() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		panic(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// response is a read response.
type response struct {
	status int
	header http.Header
	body   string
}

func do(t testing.TB, c *http.Client, req *http.Request) response {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

func (e *env) get(t testing.TB, c *http.Client, rawURL string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, c, req)
}

func (e *env) postForm(t testing.TB, c *http.Client, rawURL string, form url.Values) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, c, req)
}

// api sends an API request with the test token.
func (e *env) api(t testing.TB, method, rawURL string) response {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAPIToken)
	req.Header.Set("Accept", "application/json")
	return do(t, http.DefaultClient, req)
}

// mint creates a fill link for form through the API.
func (e *env) mint(t testing.TB, form string) mintResult {
	t.Helper()
	res := e.api(t, http.MethodPost, e.srv.URL+"/veil/api/forms/"+form+"/links")
	if res.status != http.StatusCreated {
		t.Fatalf("mint %s: %d %s", form, res.status, res.body)
	}
	var m mintResult
	if err := json.Unmarshal([]byte(res.body), &m); err != nil {
		t.Fatalf("mint answer: %v", err)
	}
	return m
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

// csrf returns the CSRF token of a rendered page.
func csrf(t testing.TB, body string) string {
	t.Helper()
	m := csrfInput.FindStringSubmatch(body)
	if m == nil || m[1] == "" {
		t.Fatalf("no csrf token in page:\n%s", body)
	}
	return m[1]
}

// login signs the agent in through the login page and returns its client.
func (e *env) login(t testing.TB) *http.Client {
	t.Helper()
	c := e.client()
	page := e.get(t, c, e.srv.URL+"/veil/login")
	code, err := totp.GenerateCode(e.totpSecret, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	res := e.postForm(t, c, e.srv.URL+"/veil/login", url.Values{
		"csrf_token": {csrf(t, page.body)}, "next": {"/veil/agent"},
		"username": {testAgent}, "password": {testPassword}, "code": {code},
	})
	if res.status != http.StatusSeeOther {
		t.Fatalf("login: %d %s", res.status, res.body)
	}
	return c
}

// fill fetches the fill page and posts values with its CSRF token.
func (e *env) fill(t testing.TB, c *http.Client, fillURL string, values url.Values) response {
	t.Helper()
	page := e.get(t, c, fillURL)
	if page.status != http.StatusOK {
		t.Fatalf("fill page: %d", page.status)
	}
	form := url.Values{"csrf_token": {csrf(t, page.body)}}
	for k, v := range values {
		form[k] = v
	}
	return e.postForm(t, c, fillURL, form)
}

// reveal opens the reveal page as the logged-in agent and presses Reveal.
func (e *env) reveal(t testing.TB, c *http.Client, revealURL string) response {
	t.Helper()
	page := e.get(t, c, revealURL)
	if page.status != http.StatusOK {
		return page
	}
	return e.postForm(t, c, revealURL, url.Values{"csrf_token": {csrf(t, page.body)}})
}
