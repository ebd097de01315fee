package agent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	alicePassword = "violet-harbour-42-lantern"
)

func TestLoginFlow(t *testing.T) {
	f := newFixture(t, Config{})
	secret := f.addAccount("alice", alicePassword)
	c := f.client()

	// A page without a session goes to the login page, keeping the path.
	resp, _ := f.get(c, "/veil/agent")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/veil/login?next=%2Fveil%2Fagent" {
		t.Fatalf("unauthenticated page: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	resp, _ = f.login(c, "alice", alicePassword, f.code(secret))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/veil/agent" {
		t.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var sc *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			sc = ck
		}
	}
	if sc == nil {
		t.Fatal("no session cookie")
	}
	if !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/veil/" || len(sc.Value) < 43 {
		t.Errorf("session cookie: HttpOnly=%v SameSite=%v Path=%q len=%d", sc.HttpOnly, sc.SameSite, sc.Path, len(sc.Value))
	}

	resp, body := f.get(c, "/veil/agent")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"method":"password"`) || !strings.Contains(body, `"name":"alice"`) {
		t.Fatalf("after login: %d %s", resp.StatusCode, body)
	}

	// Logout needs the session's CSRF token.
	resp, _ = f.post(c, "/veil/logout", url.Values{})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without csrf: %d", resp.StatusCode)
	}
	tok := f.sessionCSRF(c)
	resp, _ = f.post(c, "/veil/logout", url.Values{"csrf_token": {tok}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	resp, _ = f.get(c, "/veil/agent")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after logout: %d, want a redirect to login", resp.StatusCode)
	}

	want := []string{"login alice ok", "logout alice ok"}
	if got := f.loginEvents(); !slices.Equal(got, want) {
		t.Errorf("audit: %q, want %q", got, want)
	}
}

// sessionCSRF returns the CSRF token of the logged-in client's session.
func (f *fixture) sessionCSRF(c *http.Client) string {
	f.t.Helper()
	u, _ := url.Parse(f.srv.URL + "/veil/agent")
	req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
	for _, ck := range c.Jar.Cookies(u) {
		req.AddCookie(ck)
	}
	s := f.auth.sessionFrom(req)
	if s == nil {
		f.t.Fatal("client has no live session")
	}
	return f.auth.CSRFToken(req.WithContext(contextWithSession(req.Context(), s)))
}

func TestLoginFailures(t *testing.T) {
	f := newFixture(t, Config{})
	secret := f.addAccount("alice", alicePassword)
	wrong := func(code string) string {
		b := []byte(code)
		b[0] = '0' + (b[0]-'0'+1)%10
		return string(b)
	}
	tests := []struct {
		name, user, password, code string
		actor                      string
	}{
		{"wrong code", "alice", alicePassword, wrong(f.code(secret)), "alice"},
		{"wrong password", "alice", alicePassword + "x", f.code(secret), "alice"},
		{"no code", "alice", alicePassword, "", "alice"},
		{"unknown account", "mallory", alicePassword, f.code(secret), "unknown"},
		{"empty name", "", alicePassword, f.code(secret), "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.loginEvents())
			resp, body := f.login(f.client(), tt.user, tt.password, tt.code)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
			if !strings.Contains(body, "Sign-in failed.") {
				t.Errorf("no generic failure message in the page")
			}
			if strings.Contains(body, tt.password) && tt.password != "" {
				t.Errorf("the page echoes the password")
			}
			ev := f.loginEvents()[before:]
			if want := []string{"login " + tt.actor + " denied"}; !slices.Equal(ev, want) {
				t.Errorf("audit %q, want %q", ev, want)
			}
		})
	}
}

func TestLoginCodeReplay(t *testing.T) {
	f := newFixture(t, Config{})
	secret := f.addAccount("alice", alicePassword)
	code := f.code(secret)
	if resp, _ := f.login(f.client(), "alice", alicePassword, code); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first use: %d", resp.StatusCode)
	}
	f.clock.Advance(10 * time.Second) // same window
	if resp, _ := f.login(f.client(), "alice", alicePassword, code); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replayed code: %d, want 401", resp.StatusCode)
	}
	f.clock.Advance(30 * time.Second)
	if resp, _ := f.login(f.client(), "alice", alicePassword, f.code(secret)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("next code: %d", resp.StatusCode)
	}
}

func TestSessionExpiry(t *testing.T) {
	tests := []struct {
		name  string
		steps []time.Duration // clock advances, each followed by a request
		alive []bool          // whether the session still works after each
	}{
		{"idle logoff after 15 minutes", []time.Duration{14 * time.Minute, 15 * time.Minute}, []bool{true, false}},
		{"activity keeps it", []time.Duration{10 * time.Minute, 10 * time.Minute, 10 * time.Minute}, []bool{true, true, true}},
		{"absolute lifetime", []time.Duration{14 * time.Minute, 14 * time.Minute, 14 * time.Minute, 14 * time.Minute, 5 * time.Minute}, []bool{true, true, true, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{SessionLife: time.Hour})
			secret := f.addAccount("alice", alicePassword)
			c := f.client()
			if resp, _ := f.login(c, "alice", alicePassword, f.code(secret)); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("login: %d", resp.StatusCode)
			}
			for i, d := range tt.steps {
				f.clock.Advance(d)
				resp, _ := f.get(c, "/veil/agent")
				if got := resp.StatusCode == http.StatusOK; got != tt.alive[i] {
					t.Fatalf("step %d (+%v): status %d, alive=%v want %v", i, d, resp.StatusCode, got, tt.alive[i])
				}
			}
		})
	}
}

func TestLoginCSRF(t *testing.T) {
	f := newFixture(t, Config{})
	secret := f.addAccount("alice", alicePassword)
	other := f.client()
	otherTok := f.loginCSRF(other)
	tests := []struct {
		name  string
		token func(c *http.Client) string
	}{
		{"missing", func(*http.Client) string { return "" }},
		{"bad", func(c *http.Client) string { f.loginCSRF(c); return "AAAA" }},
		{"another browser's", func(c *http.Client) string { f.loginCSRF(c); return otherTok }},
		{"no cookie", func(c *http.Client) string { return otherTok }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.client()
			tok := tt.token(c)
			resp, _ := f.post(c, "/veil/login", url.Values{
				"csrf_token": {tok}, "username": {"alice"}, "password": {alicePassword}, "code": {f.code(secret)},
			})
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403", resp.StatusCode)
			}
		})
	}
	// The code was not spent by the refused attempts.
	if resp, _ := f.login(f.client(), "alice", alicePassword, f.code(secret)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login after refused attempts: %d", resp.StatusCode)
	}
}

func TestSessionCSRF(t *testing.T) {
	f := newFixture(t, Config{})
	secret := f.addAccount("alice", alicePassword)
	c := f.client()
	if resp, _ := f.login(c, "alice", alicePassword, f.code(secret)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	good := f.sessionCSRF(c)
	loginTok := f.loginCSRF(f.client())
	tests := []struct {
		name, token string
		want        int
	}{
		{"missing", "", http.StatusForbidden},
		{"bad", strings.Repeat("A", len(good)), http.StatusForbidden},
		{"a logged-out token", loginTok, http.StatusForbidden},
		{"session token", good, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := f.post(c, "/veil/agent/act", url.Values{"csrf_token": {tt.token}})
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	t.Run("header", func(t *testing.T) {
		resp, _ := f.post(c, "/veil/agent/act", nil, CSRFHeader, good)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

func TestLoginRateLimit(t *testing.T) {
	f := newFixture(t, Config{})
	secret := f.addAccount("alice", alicePassword)
	for i := range accountBurst {
		if resp, _ := f.login(f.client(), "alice", "wrong-password-123", f.code(secret)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, resp.StatusCode)
		}
	}
	// Even the right credentials are refused while the account is throttled.
	resp, _ := f.login(f.client(), "alice", alicePassword, f.code(secret))
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("over the limit: %d, want 429", resp.StatusCode)
	}
	if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}
	// Another account from the same address still may try.
	f.addAccount("bob", alicePassword)
	if resp, _ := f.login(f.client(), "bob", "wrong-password-123", "000000"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("other account: %d", resp.StatusCode)
	}
	f.clock.Advance(accountRefill)
	if resp, _ := f.login(f.client(), "alice", alicePassword, f.code(secret)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after the refill: %d", resp.StatusCode)
	}
}

func TestRateLimitPerAddress(t *testing.T) {
	f := newFixture(t, Config{})
	req := func(ip string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "/veil/r/x", nil)
		r.RemoteAddr = ip + ":4242"
		return r
	}
	for i := range ipBurst {
		if f.auth.Throttled(req("192.0.2.7"), "") {
			t.Fatalf("throttled after %d failures", i)
		}
		f.auth.RecordFailure(req("192.0.2.7"), "acct"+string(rune('a'+i)))
	}
	if !f.auth.Throttled(req("192.0.2.7"), "fresh") {
		t.Fatal("not throttled after the burst")
	}
	if f.auth.Throttled(req("192.0.2.8"), "fresh") {
		t.Fatal("another address throttled")
	}
	// A throttled reveal answers 429 with Retry-After.
	r := req("192.0.2.7")
	r.Header.Set("Accept", "application/json")
	w := httptest.NewRecorder()
	f.auth.WriteThrottled(w, r, "")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "30" || !strings.Contains(w.Body.String(), `"error"`) {
		t.Fatalf("WriteThrottled: %d %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	f.clock.Advance(ipRefill)
	if f.auth.Throttled(req("192.0.2.7"), "fresh") {
		t.Fatal("still throttled after a refill")
	}
}

func TestBearerRateLimit(t *testing.T) {
	f := newFixture(t, Config{})
	c := f.client()
	for i := range ipBurst {
		if resp, _ := f.get(c, "/veil/agent", "Authorization", "Bearer wrong"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, resp.StatusCode)
		}
	}
	resp, body := f.get(c, "/veil/agent", "Authorization", "Bearer "+testToken)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("over the limit: %d %s", resp.StatusCode, body)
	}
}

func TestRemovedAccountLosesSession(t *testing.T) {
	f := newFixture(t, Config{})
	secret := f.addAccount("alice", alicePassword)
	c := f.client()
	if resp, _ := f.login(c, "alice", alicePassword, f.code(secret)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	if err := f.vault.DeleteAccount(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := f.get(c, "/veil/agent"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after removal: %d, want a redirect to login", resp.StatusCode)
	}
}

func TestWithConfigKeepsSessions(t *testing.T) {
	f := newFixture(t, Config{})
	secret := f.addAccount("alice", alicePassword)
	c := f.client()
	code := f.code(secret)
	if resp, _ := f.login(c, "alice", alicePassword, code); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	if _, err := f.auth.WithConfig(Config{AllowCIDRs: []string{"nowhere"}}); err == nil {
		t.Fatal("WithConfig accepted an invalid config")
	}
	b, err := f.auth.WithConfig(Config{IdleTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(f.srv.URL + "/veil/agent")
	get := func() int {
		r := httptest.NewRequest(http.MethodGet, "/veil/agent", nil)
		for _, ck := range c.Jar.Cookies(u) {
			r.AddCookie(ck)
		}
		w := httptest.NewRecorder()
		b.RequireAgent(http.HandlerFunc(whoami)).ServeHTTP(w, r)
		return w.Code
	}
	if got := get(); got != http.StatusOK {
		t.Fatalf("session after reload: %d", got)
	}
	// The replay guard is shared too.
	mux := http.NewServeMux()
	b.Routes(mux)
	f.srv = httptest.NewServer(SecurityHeaders(mux, false))
	t.Cleanup(f.srv.Close)
	if resp, _ := f.login(f.client(), "alice", alicePassword, code); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("code reused after reload: %d", resp.StatusCode)
	}
	// The new idle timeout applies to the open session.
	f.clock.Advance(2 * time.Minute)
	if got := get(); got != http.StatusSeeOther {
		t.Fatalf("after the new idle timeout: %d", got)
	}
}
