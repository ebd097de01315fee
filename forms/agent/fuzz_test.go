package agent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/veilproxy/veil/vault"
)

func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"", "/veil/agent", "/veil/r/abc?x=1", "//evil.example/", "/veil/../admin", "/veil/%2e%2e/x",
		"https://evil.example/veil/", "/veil\\evil", "/veil/login", "/veil/\x00", "/\t/evil.example", "/veil//evil.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := safeNext(in)
		if out == defaultNext {
			return
		}
		if out != in {
			t.Fatalf("safeNext(%q) = %q: neither the input nor the default", in, out)
		}
		u, err := url.Parse(out)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(u.Path, "/veil/") || strings.HasPrefix(out, "//") {
			t.Fatalf("safeNext(%q) lets through a target off the agent pages", in)
		}
		// A browser resolving it against Veil's origin stays on it.
		base, _ := url.Parse("https://veil.example/veil/agent")
		if ref := base.ResolveReference(u); ref.Host != "veil.example" {
			t.Fatalf("safeNext(%q) resolves to host %q", in, ref.Host)
		}
	})
}

func FuzzParseHash(f *testing.F) {
	good, err := hashPassword("pw", argonParams{memory: 64, time: 1, threads: 1, keyLen: 32, saltLen: 16})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=1,t=1,p=0$$")
	f.Add("$$$$$")
	f.Fuzz(func(t *testing.T, in string) {
		p, salt, key, err := parseHash(in)
		if err != nil {
			return
		}
		if p.memory > 1<<21 || p.time > 32 || p.threads > 32 || len(salt) > 64 || len(key) > 64 {
			t.Fatalf("parseHash(%q) accepted unbounded parameters %+v", in, p)
		}
	})
}

// FuzzBearerAndPeer throws arbitrary Authorization, identity, forwarding
// headers and peer addresses at RequireAgent: it must never let a request
// through without the real token or a trusted peer.
func FuzzBearerAndPeer(f *testing.F) {
	a, err := New(Config{
		APITokens:      []APIToken{{Name: "bot", SHA256: tokenHash(testToken)}},
		TrustedProxies: []string{"10.0.0.5/32"},
		AllowCIDRs:     []string{"10.0.0.0/8"},
	}, nil, nil, Options{})
	if err != nil {
		f.Fatal(err)
	}
	h := a.RequireAgent(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := FromContext(r.Context())
		w.Header().Set("X-Id", id.Method+":"+id.Name)
	}))
	f.Add("Bearer "+testToken, "", "", "10.1.1.1:1")
	f.Add("Bearer x", "carol", "10.1.1.1", "10.0.0.5:1")
	f.Add("", "carol", "", "10.0.0.6:1")
	f.Add("bearer", "", "203.0.113.1, 10.0.0.5", "[::ffff:10.0.0.5]:1")
	f.Fuzz(func(t *testing.T, authz, user, xff, peer string) {
		r := httptest.NewRequest(http.MethodGet, "/veil/agent", nil)
		r.RemoteAddr = peer
		r.Header.Set("Accept", "application/json")
		r.Header.Set("Authorization", authz)
		r.Header.Set("X-Forwarded-User", user)
		r.Header.Set("X-Forwarded-For", xff)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			return
		}
		switch id := w.Header().Get("X-Id"); {
		case id == "token:bot":
			if tok, _ := bearerToken(r); tok != testToken {
				t.Fatalf("token identity for Authorization %q", authz)
			}
		case strings.HasPrefix(id, "sso:"):
			if !a.fromTrustedProxy(r) {
				t.Fatalf("sso identity from peer %q", peer)
			}
		default:
			t.Fatalf("let through as %q", id)
		}
	})
}

// FuzzLoginForm posts arbitrary bodies, with a valid CSRF cookie and token,
// to the login handler: nothing may sign in without the password and the
// current code, and nothing may panic.
func FuzzLoginForm(f *testing.F) {
	clk := newClock()
	key := make([]byte, 32)
	v, err := vault.Open(context.Background(), f.TempDir(), key, vault.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = v.Close() })
	a, err := New(Config{}, v, nil, Options{Now: clk.Now})
	if err != nil {
		f.Fatal(err)
	}
	cheap, err := hashPassword("x", argonParams{memory: 64, time: 1, threads: 1, keyLen: 32, saltLen: 16})
	if err != nil {
		f.Fatal(err)
	}
	a.dummyOnce.Do(func() { a.dummyHash = cheap })
	secret, _, err := NewTOTPSecret("alice", "Veil test")
	if err != nil {
		f.Fatal(err)
	}
	if err := v.PutAccount(context.Background(), vault.Account{Name: "alice", PasswordHash: cheap, TOTPSecret: []byte(secret)}); err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Routes(mux)
	w := httptest.NewRecorder()
	var tok string
	a.WithCSRFCookie(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { tok = a.CSRFToken(r) })).
		ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/veil/login", nil))
	cookie := w.Result().Cookies()[0]
	f.Add("username=alice&password=x&code=123456")
	f.Add("username=%ff%fe&password=&code=&next=//evil")
	f.Add("next=%2Fveil%2Fagent&username=" + strings.Repeat("a", 300))
	f.Add("a=1&a=2;b=%zz")
	f.Fuzz(func(t *testing.T, body string) {
		clk.Advance(time.Hour) // refill the failure budgets
		r := httptest.NewRequest(http.MethodPost, "/veil/login", strings.NewReader(CSRFField+"="+url.QueryEscape(tok)+"&"+body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = "192.0.2.1:1"
		r.AddCookie(cookie)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusUnauthorized, http.StatusBadRequest, http.StatusForbidden, http.StatusTooManyRequests:
		default:
			t.Fatalf("status %d for body %q", w.Code, body)
		}
		for _, c := range w.Result().Cookies() {
			if c.Name == sessionCookie {
				t.Fatalf("a session for body %q", body)
			}
		}
	})
}
