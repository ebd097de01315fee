package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/veilproxy/veil/detectors"
)

func TestRouting(t *testing.T) {
	main := newRecorder(t, nil)
	hooks := newRecorder(t, nil)
	off := false
	cfg := Config{
		Upstream: main.srv.URL + "/base",
		Routes: []Route{
			{Match: Match{Path: "/api/messages", Methods: []string{"post"}}, Body: "json"},
			{Match: Match{Path: "/api/*", Host: "chat.example.com"}, Body: "text"},
			{Match: Match{Path: "/hooks/*"}, Upstream: hooks.srv.URL, StripPrefix: "/hooks", AddPrefix: "/in"},
			{Match: Match{Path: "/raw"}, Scan: &off},
		},
	}
	_, srv := newTestProxy(t, cfg, Options{})
	e := httpEngine(t, detectors.Config{})
	m := masked(t, e, testCard)
	body := `{"t":"` + testCard + `"}`
	tests := []struct {
		name, method, path, host string
		rec                      *recorder
		wantPath                 string
		wantBody                 string
	}{
		{"exact json", "POST", "/api/messages", "", main, "/base/api/messages", `{"t":` + jsonQuote(m) + `}`},
		{"method mismatch falls through to content type", "PUT", "/api/messages", "", main, "/base/api/messages", `{"t":` + jsonQuote(m) + `}`},
		{"host route scans as text", "POST", "/api/x", "chat.example.com", main, "/base/api/x", `{"t":"` + m + `"}`},
		{"per-route upstream and prefixes", "POST", "/hooks/a%2Fb/c", "", hooks, "/in/a/b/c", `{"t":` + jsonQuote(m) + `}`},
		{"scan false passes", "POST", "/raw", "", main, "/base/raw", body},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if tt.host != "" {
				req.Host = tt.host
			}
			resp, b := do(t, req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			got := tt.rec.last(t)
			if got.Path != tt.wantPath || string(got.Body) != tt.wantBody {
				t.Errorf("upstream got %s %s, want %s %s", got.Path, got.Body, tt.wantPath, tt.wantBody)
			}
			if got.Header.Get("X-Forwarded-For") == "" || got.Header.Get("X-Forwarded-Proto") != "http" {
				t.Errorf("X-Forwarded-* not set: %v", got.Header)
			}
		})
	}
}

func TestResponsePolicies(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain")
		h.Set("X-Transcript-Email", "on")
		h.Set("X-Keep", "1")
		h.Add("Set-Cookie", "track=1; Path=/")
		h.Add("Set-Cookie", "session=2; Path=/")
		_, _ = io.WriteString(w, "ok")
	})
	_, srv := newTestProxy(t, cfgFor(rec.srv.URL, Route{
		Match:                Match{Path: "/*"},
		StripResponseHeaders: []string{"x-transcript-email"},
		StripCookies:         []string{"track"},
	}), Options{})
	resp, _ := do(t, mustRequest(t, http.MethodGet, srv.URL+"/x"))
	if resp.Header.Get("X-Transcript-Email") != "" || resp.Header.Get("X-Keep") != "1" {
		t.Errorf("headers = %v", resp.Header)
	}
	cookies := resp.Header.Values("Set-Cookie")
	if len(cookies) != 1 || !strings.HasPrefix(cookies[0], "session=") {
		t.Errorf("Set-Cookie = %q, want only session", cookies)
	}
}

func TestRequestID(t *testing.T) {
	rec := newRecorder(t, nil)
	_, srv := newTestProxy(t, cfgFor(rec.srv.URL), Options{})
	tests := []struct{ in, want string }{
		{"abc-123", "abc-123"},
		{"bad id with spaces " + testCard, ""},
		{"", ""},
	}
	for _, tt := range tests {
		req := mustRequest(t, http.MethodGet, srv.URL+"/")
		if tt.in != "" {
			req.Header.Set("X-Request-Id", tt.in)
		}
		resp, _ := do(t, req)
		got := rec.last(t).Header.Get("X-Request-Id")
		if (tt.want != "" && got != tt.want) || (tt.want == "" && (got == "" || got == tt.in)) {
			t.Errorf("X-Request-Id %q upstream = %q", tt.in, got)
		}
		if resp.Header.Get("X-Request-Id") != got {
			t.Errorf("response X-Request-Id = %q, want %q", resp.Header.Get("X-Request-Id"), got)
		}
	}
}

func TestMatchPaths(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"/api/messages", "/api/messages", true},
		{"/api/messages", "/api/messages/", true},
		{"/api/messages", "/api/messages/x", false},
		{"/api/*", "/api", true},
		{"/api/*", "/api/", true},
		{"/api/*", "/api/a/b", true},
		{"/api/*", "/apix", false},
		{"/*", "/anything", true},
		{"", "/", true},
	}
	for _, tt := range tests {
		rt, err := compileRoute(Route{Match: Match{Path: tt.pattern}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := http.NewRequest(http.MethodGet, "http://h"+tt.path, nil)
		if got := rt.matches(r, cleanPath(r.URL.Path)); got != tt.want {
			t.Errorf("%q matches %q = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
	rt, _ := compileRoute(Route{Match: Match{Host: "*.example.com"}}, nil)
	for host, want := range map[string]bool{"a.example.com:8443": true, "A.Example.COM.": true, "example.com": false, "evil.com": false} {
		r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
		r.Host = host
		if got := rt.matches(r, "/"); got != want {
			t.Errorf("host %q = %v, want %v", host, got, want)
		}
	}
}
