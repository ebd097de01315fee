package agent

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestTokenAuth(t *testing.T) {
	f := newFixture(t, Config{APITokens: []APIToken{
		{Name: "helpdesk-bot", SHA256: tokenHash(testToken)},
		{Name: "crm", SHA256: tokenHash("another-token-value-0000000000")},
	}})
	tests := []struct {
		name     string
		hdr      []string
		status   int
		identity string
	}{
		{"ok", []string{"Authorization", "Bearer " + testToken}, http.StatusOK, "helpdesk-bot"},
		{"second token", []string{"Authorization", "Bearer another-token-value-0000000000"}, http.StatusOK, "crm"},
		{"scheme in lower case", []string{"Authorization", "bearer " + testToken}, http.StatusOK, "helpdesk-bot"},
		{"bad", []string{"Authorization", "Bearer " + testToken + "x"}, http.StatusUnauthorized, ""},
		{"empty", []string{"Authorization", "Bearer "}, http.StatusUnauthorized, ""},
		{"missing, json client", []string{"Accept", "application/json"}, http.StatusUnauthorized, ""},
		{"missing, page", nil, http.StatusSeeOther, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.get(f.client(), "/veil/agent", tt.hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tt.status, body)
			}
			switch tt.status {
			case http.StatusOK:
				var got map[string]string
				if err := json.Unmarshal([]byte(body), &got); err != nil {
					t.Fatal(err)
				}
				if got["name"] != tt.identity || got["method"] != MethodToken {
					t.Errorf("identity %v, want %s by token", got, tt.identity)
				}
			case http.StatusUnauthorized:
				if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !strings.Contains(body, `"error"`) {
					t.Errorf("401 is not a JSON error: %q %s", resp.Header.Get("Content-Type"), body)
				}
			case http.StatusSeeOther:
				if !strings.HasPrefix(resp.Header.Get("Location"), "/veil/login?next=") {
					t.Errorf("redirect to %q", resp.Header.Get("Location"))
				}
			}
		})
	}
	// A bad token is never passed over for a valid session.
	t.Run("bad token with a session", func(t *testing.T) {
		secret := f.addAccount("alice", alicePassword)
		c := f.client()
		if resp, _ := f.login(c, "alice", alicePassword, f.code(secret)); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: %d", resp.StatusCode)
		}
		if resp, _ := f.get(c, "/veil/agent", "Authorization", "Bearer nope"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", resp.StatusCode)
		}
	})
	// Token clients need no CSRF token: no cookie is involved.
	t.Run("post without csrf", func(t *testing.T) {
		resp, _ := f.post(f.client(), "/veil/agent/act", url.Values{}, "Authorization", "Bearer "+testToken)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

// serve runs one request through the fixture's handler with a given peer.
func (f *fixture) serve(method, target, peer string, hdr ...string) *httptest.ResponseRecorder {
	f.t.Helper()
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = peer
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, r)
	checkSecurityHeaders(f.t, w.Header(), method+" "+target+" from "+peer)
	return w
}

func TestSingleSignOn(t *testing.T) {
	f := newFixture(t, Config{TrustedProxies: []string{"10.0.0.5/32", "fd00::/8"}})
	tests := []struct {
		name, peer string
		hdr        []string
		status     int
		want       string // name by sso
	}{
		{"trusted proxy", "10.0.0.5:5555", []string{"X-Forwarded-User", "carol"}, http.StatusOK, "carol"},
		{"trusted proxy, IPv6", "[fd00::1]:5555", []string{"X-Forwarded-User", "carol"}, http.StatusOK, "carol"},
		{"trusted proxy, no header", "10.0.0.5:5555", nil, http.StatusSeeOther, ""},
		{"trusted proxy, control characters", "10.0.0.5:5555", []string{"X-Forwarded-User", "car\x01ol"}, http.StatusSeeOther, ""},
		{"untrusted peer", "10.0.0.6:5555", []string{"X-Forwarded-User", "carol"}, http.StatusSeeOther, ""},
		{"untrusted peer, json", "192.0.2.1:5555", []string{"X-Forwarded-User", "carol", "Accept", "application/json"}, http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.serve(http.MethodGet, "/veil/agent", tt.peer, tt.hdr...)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			if tt.status == http.StatusOK {
				var got map[string]string
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
					t.Fatal(err)
				}
				if got["name"] != tt.want || got["method"] != MethodSSO {
					t.Errorf("identity %v, want %s by sso", got, tt.want)
				}
			}
		})
	}
	t.Run("header stripped from an untrusted peer", func(t *testing.T) {
		w := f.serve(http.MethodGet, "/veil/agent", "192.0.2.1:5555", "X-Forwarded-User", "carol", "Authorization", "Bearer "+testToken)
		var got map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("%d %s: %v", w.Code, w.Body, err)
		}
		if got["header"] != "" || got["method"] != MethodToken {
			t.Errorf("handler saw %v", got)
		}
	})
	t.Run("sso posts need the csrf token", func(t *testing.T) {
		w := f.serve(http.MethodGet, "/veil/agent", "10.0.0.5:5555", "X-Forwarded-User", "carol")
		cookies := w.Result().Cookies()
		if len(cookies) != 1 || cookies[0].Name != csrfCookie {
			t.Fatalf("cookies %v", cookies)
		}
		r := httptest.NewRequest(http.MethodGet, "/veil/agent", nil)
		r.AddCookie(cookies[0])
		tok := f.auth.CSRFToken(r.WithContext(withIdentity(r, Identity{Name: "carol", Method: MethodSSO})))
		ck := "veil_csrf=" + cookies[0].Value
		for _, tc := range []struct {
			name, user, tok string
			want            int
		}{
			{"no token", "carol", "", http.StatusForbidden},
			{"token of another user", "dave", tok, http.StatusForbidden},
			{"token", "carol", tok, http.StatusOK},
		} {
			w := f.serve(http.MethodPost, "/veil/agent/act", "10.0.0.5:5555", "X-Forwarded-User", tc.user, "Cookie", ck, CSRFHeader, tc.tok)
			if w.Code != tc.want {
				t.Errorf("%s: status %d, want %d", tc.name, w.Code, tc.want)
			}
		}
	})
}

func TestAllowCIDRs(t *testing.T) {
	f := newFixture(t, Config{AllowCIDRs: []string{"10.0.0.0/8", "192.0.2.9"}, TrustedProxies: []string{"10.9.9.9/32"}})
	tests := []struct {
		name, method, path, peer string
		hdr                      []string
		want                     int
	}{
		{"page outside", "GET", "/veil/agent", "203.0.113.9:1", nil, http.StatusForbidden},
		{"api outside", "GET", "/veil/agent", "203.0.113.9:1", []string{"Authorization", "Bearer " + testToken}, http.StatusForbidden},
		{"login page outside", "GET", "/veil/login", "203.0.113.9:1", nil, http.StatusForbidden},
		{"login post outside", "POST", "/veil/login", "203.0.113.9:1", nil, http.StatusForbidden},
		{"api inside", "GET", "/veil/agent", "10.1.2.3:1", []string{"Authorization", "Bearer " + testToken}, http.StatusOK},
		{"single address", "GET", "/veil/agent", "192.0.2.9:1", []string{"Authorization", "Bearer " + testToken}, http.StatusOK},
		{"login page inside", "GET", "/veil/login", "10.1.2.3:1", nil, http.StatusOK},
		{"forwarded by a trusted proxy", "GET", "/veil/agent", "10.9.9.9:1", []string{"X-Forwarded-For", "203.0.113.9", "Authorization", "Bearer " + testToken}, http.StatusForbidden},
		{"forwarded, spoofed first hop", "GET", "/veil/agent", "10.9.9.9:1", []string{"X-Forwarded-For", "10.1.1.1, 203.0.113.9", "Authorization", "Bearer " + testToken}, http.StatusForbidden},
		{"forwarded from inside", "GET", "/veil/agent", "10.9.9.9:1", []string{"X-Forwarded-For", "203.0.113.9, 10.1.1.1", "Authorization", "Bearer " + testToken}, http.StatusOK},
		{"forwarded header from an untrusted peer", "GET", "/veil/agent", "203.0.113.9:1", []string{"X-Forwarded-For", "10.1.1.1", "Authorization", "Bearer " + testToken}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.serve(tt.method, tt.path, tt.peer, tt.hdr...)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if tt.want == http.StatusForbidden && len(tt.hdr) > 0 && !strings.Contains(w.Body.String(), `"error"`) {
				t.Errorf("API 403 is not JSON: %s", w.Body)
			}
		})
	}
	t.Run("empty list allows all", func(t *testing.T) {
		open := newFixture(t, Config{})
		if w := open.serve("GET", "/veil/agent", "203.0.113.9:1", "Authorization", "Bearer "+testToken); w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
	})
}

func TestSecurityHeadersOnLoginRoutes(t *testing.T) {
	// Routes sets the headers itself, even on a bare mux.
	for _, tls := range []bool{false, true} {
		a, err := New(Config{}, openVault(t), nil, Options{SecureCookies: tls})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		a.Routes(mux)
		for _, rq := range []struct{ method, path string }{{"GET", "/veil/login"}, {"POST", "/veil/login"}, {"POST", "/veil/logout"}} {
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, httptest.NewRequest(rq.method, rq.path, nil))
			checkSecurityHeaders(t, w.Header(), rq.method+" "+rq.path)
			if got := w.Header().Get("Strict-Transport-Security") != ""; got != tls {
				t.Errorf("%s %s tls=%v: HSTS present=%v", rq.method, rq.path, tls, got)
			}
			for _, c := range w.Result().Cookies() {
				if c.Secure != tls || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
					t.Errorf("cookie %s: Secure=%v HttpOnly=%v SameSite=%v", c.Name, c.Secure, c.HttpOnly, c.SameSite)
				}
			}
		}
	}
}

func TestCrossSiteLinkBounce(t *testing.T) {
	f := newFixture(t, Config{})
	w := f.serve("GET", "/veil/agent?x=1", "192.0.2.1:1", "Sec-Fetch-Site", "cross-site")
	if w.Code != http.StatusOK || w.Header().Get("Refresh") != "0; url=/veil/agent?x=1" {
		t.Fatalf("cross-site open: %d Refresh=%q", w.Code, w.Header().Get("Refresh"))
	}
	w = f.serve("GET", "/veil/agent?x=1", "192.0.2.1:1", "Sec-Fetch-Site", "same-origin")
	if w.Code != http.StatusSeeOther {
		t.Fatalf("same-origin open: %d, want a redirect to login", w.Code)
	}
}

func TestCheckCSRFError(t *testing.T) {
	f := newFixture(t, Config{})
	r := httptest.NewRequest(http.MethodPost, "/veil/f/x", strings.NewReader("csrf_token=abc"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := f.auth.CheckCSRF(r); !errors.Is(err, ErrCSRF) {
		t.Fatalf("CheckCSRF = %v, want ErrCSRF", err)
	}
	// The fill page's double submit through WithCSRFCookie.
	var tok string
	h := f.auth.WithCSRFCookie(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tok = f.auth.CSRFToken(r) }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/veil/f/x", nil))
	if tok == "" || len(w.Result().Cookies()) != 1 {
		t.Fatalf("token %q, cookies %v", tok, w.Result().Cookies())
	}
	r = httptest.NewRequest(http.MethodPost, "/veil/f/x", strings.NewReader(url.Values{CSRFField: {tok}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(w.Result().Cookies()[0])
	if err := f.auth.CheckCSRF(r); err != nil {
		t.Fatalf("CheckCSRF with cookie and token: %v", err)
	}
	tampered := *w.Result().Cookies()[0]
	tampered.Value = "A" + tampered.Value[1:]
	r = httptest.NewRequest(http.MethodPost, "/veil/f/x", nil)
	r.Header.Set(CSRFHeader, tok)
	r.AddCookie(&tampered)
	if err := f.auth.CheckCSRF(r); !errors.Is(err, ErrCSRF) {
		t.Fatalf("tampered cookie: %v", err)
	}
}

func TestLoginPage(t *testing.T) {
	f := newFixture(t, Config{})
	resp, body := f.get(f.client(), "/veil/login?next=%2Fveil%2Fr%2Fabc")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`<label for="username">`, `<label for="password">`, `<label for="code">`,
		`autocomplete="current-password"`, `autocomplete="one-time-code"`,
		`name="next" value="/veil/r/abc"`, `<title>Agent sign-in · Veil</title>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, banned := range []string{"<script", "style=", "<style", "onclick"} {
		if strings.Contains(body, banned) {
			t.Errorf("page has inline %q", banned)
		}
	}
	// An unsafe next falls back to the inbox.
	_, body = f.get(f.client(), "/veil/login?next=https%3A%2F%2Fevil.example%2F")
	if !strings.Contains(body, `name="next" value="/veil/agent"`) {
		t.Error("an off-site next was kept")
	}
}

func TestLoginPageWithSSO(t *testing.T) {
	f := newFixture(t, Config{TrustedProxies: []string{"10.0.0.5"}})
	if w := f.serve("GET", "/veil/login?next=%2Fveil%2Fr%2Fx", "10.0.0.5:1", "X-Forwarded-User", "carol"); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/veil/r/x" {
		t.Fatalf("sso user on the login page: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if w := f.serve("GET", "/veil/login", "10.0.0.6:1", "X-Forwarded-User", "carol"); w.Code != http.StatusOK {
		t.Fatalf("untrusted peer: %d, want the form", w.Code)
	}
}
