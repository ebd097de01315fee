package proxy

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veilproxy/veil/detectors"
)

func gzipped(t testing.TB, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gunzip(t testing.TB, b []byte) string {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return string(out)
}

func TestCompressedBodies(t *testing.T) {
	e := httpEngine(t, detectors.Config{})
	m := masked(t, e, testCard)
	reply := `{"reply":"card ` + testCard + `"}`
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/gztext":
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Encoding", "gzip")
			_ = http.NewResponseController(w).Flush() // streamed: no Content-Length
			_, _ = w.Write(gzipped(t, strings.Repeat("card "+testCard+"\n", 100)))
		case r.URL.Path == "/clean":
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(gzipped(t, `{"reply":"nothing here"}`))
		case strings.Contains(r.Header.Get("Accept-Encoding"), "gzip"):
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(gzipped(t, reply))
		case strings.Contains(r.Header.Get("Accept-Encoding"), "deflate"):
			w.Header().Set("Content-Encoding", "deflate")
			zw := zlib.NewWriter(w)
			_, _ = io.WriteString(zw, reply)
			_ = zw.Close()
		default:
			_, _ = io.WriteString(w, reply)
		}
	})
	_, srv := newTestProxy(t, cfgFor(rec.srv.URL), Options{Engine: e})
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}

	t.Run("gzip both ways", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/m", bytes.NewReader(gzipped(t, `{"text":"`+testCard+`"}`)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set("Accept-Encoding", "br, gzip;q=0.9")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got := rec.last(t)
		if string(got.Body) != `{"text":`+jsonQuote(m)+`}` || got.Header.Get("Content-Encoding") != "" {
			t.Errorf("upstream got %q (Content-Encoding %q), want identity masked JSON", got.Body, got.Header.Get("Content-Encoding"))
		}
		if ae := got.Header.Get("Accept-Encoding"); ae != "gzip;q=0.9" {
			t.Errorf("upstream Accept-Encoding = %q, want only what can be scanned", ae)
		}
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("response Content-Encoding = %q, want gzip", resp.Header.Get("Content-Encoding"))
		}
		if resp.ContentLength != int64(len(b)) {
			t.Errorf("Content-Length %d for %d bytes", resp.ContentLength, len(b))
		}
		if s := gunzip(t, b); s != `{"reply":`+jsonQuote("card "+m)+`}` {
			t.Errorf("client got %s", s)
		}
	})
	t.Run("deflate response", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/m", nil)
		req.Header.Set("Accept-Encoding", "deflate")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		zr, err := zlib.NewReader(resp.Body)
		if err != nil {
			t.Fatalf("response is not zlib: %v", err)
		}
		b, _ := io.ReadAll(zr)
		if string(b) != `{"reply":`+jsonQuote("card "+m)+`}` {
			t.Errorf("client got %s", b)
		}
	})
	t.Run("streamed gzip text sent as identity", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/gztext", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get("Content-Encoding") != "" || string(b) != strings.Repeat("card "+m+"\n", 100) {
			t.Errorf("Content-Encoding %q, body %.80q", resp.Header.Get("Content-Encoding"), b)
		}
	})
	t.Run("unchanged gzip request passes as sent", func(t *testing.T) {
		raw := gzipped(t, `{"text":"hello"}`)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/clean", bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := rec.last(t)
		if !bytes.Equal(got.Body, raw) || got.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("unchanged gzip body was rewritten")
		}
	})
}

func TestTextStreaming(t *testing.T) {
	e := httpEngine(t, detectors.Config{})
	s := e.NewStream(detectors.RedactOptions{})
	if out, _, err := s.Write(context.Background(), []byte("hello there, ")); err != nil || len(out) == 0 {
		t.Skip("engine stream holds all text until flush")
	}
	m := masked(t, e, testCard)
	next := make(chan struct{})
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "hello there, ")
		_ = http.NewResponseController(w).Flush()
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
		// A card split across writes.
		_, _ = io.WriteString(w, "card 4111 1111 ")
		_ = http.NewResponseController(w).Flush()
		_, _ = io.WriteString(w, "1111 1111 end\n")
	})
	_, srv := newTestProxy(t, cfgFor(rec.srv.URL), Options{Engine: e})
	resp, err := http.Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 64)
	n, err := resp.Body.Read(first) // arrives before the upstream finishes
	if err != nil || n == 0 {
		t.Fatalf("first read: %d, %v", n, err)
	}
	close(next)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	got := string(first[:n]) + string(rest)
	if want := "hello there, card " + m + " end\n"; got != want {
		t.Errorf("client got %q, want %q", got, want)
	}
	if resp.ContentLength != -1 {
		t.Errorf("Content-Length = %d, want none", resp.ContentLength)
	}
}

func TestResponseKinds(t *testing.T) {
	e := httpEngine(t, detectors.Config{})
	m := masked(t, e, testCard)
	bodies := map[string][2]string{ // path -> content type, body
		"/app.js":   {"application/javascript", "var x = '" + testCard + "';"},
		"/logo.png": {"image/png", "\x89PNG" + testCard},
		"/doc.pdf":  {"application/pdf", "%PDF " + testCard},
		"/page":     {"text/html; charset=utf-8", "<p>" + testCard + "</p>"},
		"/bad.json": {"application/json", `{"a":`},
		"/gz-bad":   {"application/json", "not gzip"},
		"/br":       {"application/json", "xx"},
		"/none":     {"", testCard},
		"/form":     {"application/x-www-form-urlencoded", "c=" + strings.ReplaceAll(testCard, " ", "+")},
		"/api/page": {"text/html", "<p>" + testCard + "</p>"},
		"/api/js":   {"text/javascript", "x='" + testCard + "'"},
		"/api/sse":  {"text/event-stream", "data: hello\n\n"},
		"/empty":    {"application/json", ""},
	}
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		b := bodies[r.URL.Path]
		w.Header()["Content-Type"] = []string{b[0]}
		switch r.URL.Path {
		case "/gz-bad":
			w.Header().Set("Content-Encoding", "gzip")
		case "/br":
			w.Header().Set("Content-Encoding", "br")
		case "/empty":
			_ = http.NewResponseController(w).Flush() // chunked, no bytes
		}
		_, _ = io.WriteString(w, b[1])
	})
	_, srv := newTestProxy(t, cfgFor(rec.srv.URL, Route{Match: Match{Path: "/api/*"}, Body: "json"}), Options{Engine: e})
	tests := []struct {
		path   string
		status int
		want   string // "" for an error
	}{
		{"/app.js", 200, bodies["/app.js"][1]},
		{"/logo.png", 200, bodies["/logo.png"][1]},
		{"/doc.pdf", 200, bodies["/doc.pdf"][1]},
		{"/page", 200, "<p>" + m + "</p>"},
		{"/none", 200, m},
		{"/form", 200, "c=" + string(queryEscape([]byte(m)))},
		{"/api/page", 200, "<p>" + m + "</p>"}, // JSON route, HTML error page: scanned as text
		{"/api/js", 200, "x='" + m + "'"},      // JSON route, script: scanned rather than passed
		{"/api/sse", 200, "data: hello\n\n"},   // JSON route, event stream: the SSE scanner
		{"/empty", 200, ""},
		{"/bad.json", 502, ""},
		{"/gz-bad", 502, ""},
		{"/br", 502, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, b := do(t, mustRequest(t, http.MethodGet, srv.URL+tt.path))
			if tt.want == "" && tt.status != 200 {
				wantError(t, resp, b, tt.status, "response_unscannable")
				return
			}
			if tt.path == "/api/sse" { // events may be regrouped as text is held back
				if resp.StatusCode != tt.status || !strings.Contains(string(b), "hello") {
					t.Errorf("status %d body %q, want %d with the event text", resp.StatusCode, b, tt.status)
				}
				return
			}
			if resp.StatusCode != tt.status || string(b) != tt.want {
				t.Errorf("status %d body %q, want %d %q", resp.StatusCode, b, tt.status, tt.want)
			}
		})
	}
}

func TestResponseTooLarge(t *testing.T) {
	big := `"` + strings.Repeat("a", 4000) + `"`
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", r.URL.Query().Get("ct"))
		if r.URL.Query().Get("flush") != "" {
			_ = http.NewResponseController(w).Flush() // no Content-Length: streamed
		}
		_, _ = io.WriteString(w, big)
	})
	_, srv := newTestProxy(t, Config{Upstream: rec.srv.URL, Limits: Limits{MaxBody: 1024}}, Options{})
	resp, b := do(t, mustRequest(t, http.MethodGet, srv.URL+"/?ct=application/json"))
	wantError(t, resp, b, http.StatusBadGateway, "response_too_large")

	// A streamed text response is cut off: the client sees an error, never
	// the unscanned remainder.
	resp2, err := http.Get(srv.URL + "/?ct=text/plain&flush=1")
	if err != nil {
		return // aborted before the headers: fine
	}
	defer resp2.Body.Close()
	if b, err := io.ReadAll(resp2.Body); err == nil {
		t.Errorf("streamed response over max_body read without error (%d bytes)", len(b))
	}
}

func TestUpstreamTimeout(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	_, srv := newTestProxy(t, Config{Upstream: rec.srv.URL, Limits: Limits{UpstreamTimeout: 50 * time.Millisecond}}, Options{})
	resp, b := do(t, mustRequest(t, http.MethodGet, srv.URL+"/slow"))
	wantError(t, resp, b, http.StatusGatewayTimeout, "upstream_timeout")
}

func TestScanTimeout(t *testing.T) {
	rec := newRecorder(t, nil)
	_, srv := newTestProxy(t, Config{Upstream: rec.srv.URL, Limits: Limits{ScanTimeout: time.Nanosecond}}, Options{})
	resp, b := post(t, srv.URL+"/m", "text/plain", strings.Repeat("card "+testCard+" ", 50))
	if resp.StatusCode == http.StatusOK {
		t.Skip("engine does not check its context")
	}
	wantError(t, resp, b, http.StatusServiceUnavailable, "scan_timeout")
	if rec.hits.Load() != 0 {
		t.Errorf("upstream was hit")
	}
}

func TestSecureCommand(t *testing.T) {
	rec := newRecorder(t, nil)
	var mu sync.Mutex
	var forms []string
	secure := func(ctx context.Context, form string) (string, bool, error) {
		mu.Lock()
		defer mu.Unlock()
		forms = append(forms, form)
		if form != "payment" {
			return "", false, nil
		}
		return "Please use this secure form: https://veil.example/f/abc", true, nil
	}
	_, srv := newTestProxy(t, cfgFor(rec.srv.URL), Options{SecureCommand: secure})
	tests := []struct{ ct, in, want string }{
		{"application/json", `{"text":" /secure payment ","n":1}`, `{"text":"Please use this secure form: https://veil.example/f/abc","n":1}`},
		{"application/json", `{"text":"/secure nope"}`, `{"text":"/secure nope"}`},
		{"application/json", `{"text":"please /secure payment"}`, `{"text":"please /secure payment"}`},
		{"text/plain", "/secure payment\n", "Please use this secure form: https://veil.example/f/abc"},
	}
	for _, tt := range tests {
		resp, _ := post(t, srv.URL+"/m", tt.ct, tt.in)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if got := rec.last(t).Body; string(got) != tt.want {
			t.Errorf("%s: upstream got %s, want %s", tt.in, got, tt.want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(forms) != 3 {
		t.Errorf("SecureCommand called for %q, want 3 calls", forms)
	}
}

func TestDivert(t *testing.T) {
	e := httpEngine(t, detectors.Config{Actions: map[string]string{"card": "divert"}})
	fs, err := e.Find(context.Background(), []byte(testCard), detectors.RedactOptions{})
	if err != nil || detectors.Strongest(fs) != detectors.ActionDivert {
		t.Skip("engine does not apply configured actions")
	}
	rec := newRecorder(t, nil)
	t.Run("one diverter per request", func(t *testing.T) {
		var mu sync.Mutex
		var made int
		var kept [][]byte
		d := diverterFunc(func(ctx context.Context, f detectors.Finding, v []byte) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			kept = append(kept, bytes.Clone(v))
			return "[link]", nil
		})
		_, srv := newTestProxy(t, cfgFor(rec.srv.URL), Options{Engine: e, NewDiverter: func() detectors.Diverter { mu.Lock(); made++; mu.Unlock(); return d }})
		resp, _ := post(t, srv.URL+"/m", "application/json", `{"a":"`+testCard+`","b":"`+testCard+`"}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		mu.Lock()
		defer mu.Unlock()
		if made != 1 || len(kept) != 2 || string(kept[0]) != testCard {
			t.Errorf("made %d diverters, kept %q", made, kept)
		}
		mu.Unlock()
		post(t, srv.URL+"/m", "application/json", `{"a":"nothing to divert"}`)
		mu.Lock()
		if made != 1 {
			t.Errorf("a request with nothing to divert made a diverter")
		}
		noCard(t, "upstream", rec.last(t).Body)
	})
	t.Run("diverter failure refuses", func(t *testing.T) {
		before := rec.hits.Load()
		d := diverterFunc(func(context.Context, detectors.Finding, []byte) (string, error) {
			return "", io.ErrUnexpectedEOF
		})
		_, srv := newTestProxy(t, cfgFor(rec.srv.URL), Options{Engine: e, NewDiverter: func() detectors.Diverter { return d }})
		resp, b := post(t, srv.URL+"/m", "text/plain", "card "+testCard)
		wantError(t, resp, b, http.StatusInternalServerError, "divert_failed")
		if rec.hits.Load() != before {
			t.Errorf("upstream was hit")
		}
	})
}

type diverterFunc func(ctx context.Context, f detectors.Finding, v []byte) (string, error)

func (d diverterFunc) Divert(ctx context.Context, f detectors.Finding, v []byte) (string, error) {
	return d(ctx, f, v)
}

func TestKindOf(t *testing.T) {
	plain := &route{}
	tests := []struct {
		rt   *route
		ct   string
		want bodyKind
	}{
		{plain, "application/json; charset=utf-8", kindJSON},
		{plain, "application/vnd.api+json", kindJSON},
		{plain, "application/x-ndjson", kindText},
		{plain, "application/x-www-form-urlencoded", kindForm},
		{plain, "multipart/form-data; boundary=x", kindMultipart},
		{plain, "text/plain", kindText},
		{plain, "", kindText},
		{plain, "text/css", kindStatic},
		{plain, "application/javascript", kindStatic},
		{plain, "image/svg+xml", kindStatic},
		{plain, "font/woff2", kindStatic},
		{plain, "application/xml", kindText},
		{plain, "application/octet-stream", kindBinary},
		{plain, "video/mp4", kindBinary},
		{&route{body: "text"}, "application/javascript", kindText},
		{&route{body: "json"}, "text/plain", kindJSON},
		{&route{body: "form"}, "multipart/form-data; boundary=x", kindMultipart},
		{&route{body: "none"}, "application/json", kindNone},
	}
	for _, tt := range tests {
		if got := kindOf(tt.rt, tt.ct); got != tt.want {
			t.Errorf("kindOf(body %q, %q) = %v, want %v", tt.rt.body, tt.ct, got, tt.want)
		}
	}
	for ct, want := range map[string]bodyKind{"text/html": kindText, "application/json": kindJSON, "image/png": kindText, "": kindJSON} {
		if got := responseKind(&route{body: "json"}, ct); got != want {
			t.Errorf("responseKind(json route, %q) = %v, want %v", ct, got, want)
		}
	}
}

func TestContentEncoding(t *testing.T) {
	tests := []struct {
		values []string
		want   string
		ok     bool
	}{
		{nil, "", true},
		{[]string{"identity"}, "", true},
		{[]string{"GZIP"}, "gzip", true},
		{[]string{"x-gzip"}, "gzip", true},
		{[]string{"deflate"}, "deflate", true},
		{[]string{"br"}, "", false},
		{[]string{"gzip, gzip"}, "", false},
		{[]string{"gzip", "deflate"}, "", false},
	}
	for _, tt := range tests {
		h := http.Header{"Content-Encoding": tt.values}
		got, err := contentEncoding(h)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%q: got %q, %v", tt.values, got, err)
		}
	}
}

func FuzzFormCodec(f *testing.F) {
	for _, s := range []string{"a+b", "%41%zz", "card=4111+1111", "%", "%4", "x%2B%2b", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := queryUnescape([]byte(s))
		want, wantErr := url.QueryUnescape(s)
		if (err == nil) != (wantErr == nil) || (err == nil && got != want) {
			t.Fatalf("queryUnescape(%q) = %q, %v; net/url: %q, %v", s, got, err, want, wantErr)
		}
		if back, err := url.QueryUnescape(string(queryEscape([]byte(s)))); err != nil || back != s {
			t.Fatalf("queryEscape(%q) does not round-trip: %q, %v", s, back, err)
		}
	})
}
