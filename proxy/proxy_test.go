package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veilproxy/veil/detectors"
)

// testCard is a Luhn-valid test card number every engine masks.
const testCard = "4111 1111 1111 1111"

// httpEngine compiles the default engine.
func httpEngine(t testing.TB, cfg detectors.Config) *detectors.Engine {
	t.Helper()
	e, err := detectors.Compile(cfg)
	if err != nil {
		t.Fatalf("detectors.Compile: %v", err)
	}
	return e
}

// masked returns what the engine makes of s, so expectations follow the
// engine's mask style.
func masked(t testing.TB, e *detectors.Engine, s string) string {
	t.Helper()
	out, _, err := e.Redact(context.Background(), []byte(s), detectors.RedactOptions{})
	if err != nil {
		t.Fatalf("Redact: %v", err)
	}
	if string(out) == s {
		t.Fatalf("engine does not mask the test value")
	}
	return string(out)
}

// seen is what a test upstream received.
type seen struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

// recorder is an upstream that records requests and answers with handler
// (or 200 with the request body echoed).
type recorder struct {
	mu      sync.Mutex
	reqs    []seen
	hits    atomic.Int64
	handler http.HandlerFunc
	srv     *httptest.Server
}

func newRecorder(t testing.TB, handler http.HandlerFunc) *recorder {
	t.Helper()
	rec := &recorder{handler: handler}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.hits.Add(1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read error", http.StatusTeapot)
			return
		}
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		rec.mu.Unlock()
		if rec.handler != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			rec.handler(w, r)
			return
		}
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		_, _ = w.Write(body)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) last(t testing.TB) seen {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) == 0 {
		t.Fatalf("upstream received nothing")
	}
	return rec.reqs[len(rec.reqs)-1]
}

// newTestProxy starts cfg's proxy (upstream defaulting to rec) in front of
// an httptest server.
func newTestProxy(t testing.TB, cfg Config, opts Options) (*Proxy, *httptest.Server) {
	t.Helper()
	if opts.Engine == nil {
		opts.Engine = httpEngine(t, detectors.Config{})
	}
	p, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv
}

func post(t testing.TB, url, ct, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	return do(t, req)
}

func do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return resp, b
}

// wantError checks a JSON error response.
func wantError(t testing.TB, resp *http.Response, body []byte, status int, code string) errorBody {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want JSON", ct)
	}
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if eb.Code != code || eb.Error == "" || eb.RequestID == "" {
		t.Errorf("error body = %+v, want code %q with a message and request id", eb, code)
	}
	return eb
}

func noCard(t testing.TB, where string, b []byte) {
	t.Helper()
	compact := strings.NewReplacer(" ", "", "-", "").Replace(string(b))
	if strings.Contains(compact, "4111111111111111") {
		t.Errorf("%s holds the card number: %s", where, b)
	}
}

func cfgFor(upstream string, routes ...Route) Config {
	return Config{Upstream: upstream, Routes: routes}
}

// TestJSONHistoryThreads posts a chat history, resent whole as bots take
// it: a card in one message, its expiry and code in later ones with the
// agent's replies between (naming neither), and the last 4 of an SSN
// answering a question.
func TestJSONHistoryThreads(t *testing.T) {
	e := httpEngine(t, detectors.Config{})
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	cfg := cfgFor(rec.srv.URL, Route{Match: Match{Path: "/v1/chat/completions", Methods: []string{"POST"}}, Body: "json"})
	_, srv := newTestProxy(t, cfg, Options{Engine: e})
	in := `{"model":"m","messages":[` +
		`{"role":"user","content":"pay with 4111 1111 1111 1111"},` +
		`{"role":"assistant","content":"Thanks. Go on?"},` +
		`{"role":"user","content":"12/27"},` +
		`{"role":"assistant","content":"Got it. Anything else?"},` +
		`{"role":"user","content":"321"},` +
		`{"role":"assistant","content":"To verify you, what are the last 4 of your SSN?"},` +
		`{"role":"user","content":"8741"},` +
		`{"role":"user","content":"and I'd like 2 of them, 150 each"}]}`
	resp, body := post(t, srv.URL+"/v1/chat/completions", "application/json", in)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	got := string(rec.last(t).Body)
	for _, secret := range []string{"4111", `"12/27"`, `"321"`, `"8741"`} {
		if strings.Contains(got, secret) {
			t.Errorf("%s reached the upstream: %s", secret, got)
		}
	}
	if !strings.Contains(got, `"and I'd like 2 of them, 150 each"`) || !strings.Contains(got, `"Thanks. Go on?"`) {
		t.Errorf("plain messages changed: %s", got)
	}
	// Fields outside arrays are no thread: a top-level value after a card
	// is its own.
	in = `{"card":"4111 1111 1111 1111","count":"123"}`
	if _, body = post(t, srv.URL+"/v1/chat/completions", "application/json", in); !strings.Contains(string(rec.last(t).Body), `"count":"123"`) {
		t.Errorf("a top-level field after a card changed: %s", rec.last(t).Body)
	}
}

func TestJSONRequestAndResponseMasking(t *testing.T) {
	e := httpEngine(t, detectors.Config{})
	m := masked(t, e, testCard)
	mq, _ := json.Marshal(m)
	reply := "{\"echo\": \"card " + testCard + "\",\n \"n\": 4111111111111111}"
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, reply)
	})
	cfg := cfgFor(rec.srv.URL, Route{
		Match: Match{Path: "/api/messages", Methods: []string{"POST"}},
		Body:  "json",
		Skip:  []string{"$.id", "$.author"},
	})
	_, srv := newTestProxy(t, cfg, Options{Engine: e})

	in := "{ \"text\" : \"my card is \\u0034111 1111 1111 1111, thanks\",\n" +
		"  \"id\": \"" + testCard + "\", \"author\": {\"id\": 4111111111111111},\n" +
		"  \"list\": [1, \"" + testCard + "\", true, null], \"esc\": \"\\ud83d\\ude00\\n\" }"
	want := "{ \"text\" : " + jsonQuote("my card is "+m+", thanks") + ",\n" +
		"  \"id\": \"" + testCard + "\", \"author\": {\"id\": 4111111111111111},\n" +
		"  \"list\": [1, " + string(mq) + ", true, null], \"esc\": \"\\ud83d\\ude00\\n\" }"
	resp, body := post(t, srv.URL+"/api/messages", "application/json", in)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	got := rec.last(t)
	if string(got.Body) != want {
		t.Errorf("upstream got\n%s\nwant\n%s", got.Body, want)
	}
	if got.Header.Get("Content-Length") != strconv.Itoa(len(want)) || got.Header.Get("X-Request-Id") == "" {
		t.Errorf("upstream headers: Content-Length %q, X-Request-Id %q", got.Header.Get("Content-Length"), got.Header.Get("X-Request-Id"))
	}
	wantResp := "{\"echo\": " + jsonQuote("card "+m) + ",\n \"n\": " + jsonQuote(masked(t, e, "4111111111111111")) + "}"
	if string(body) != wantResp {
		t.Errorf("client got\n%s\nwant\n%s", body, wantResp)
	}
	if resp.ContentLength != int64(len(wantResp)) {
		t.Errorf("response Content-Length = %d, want %d", resp.ContentLength, len(wantResp))
	}
	if resp.Header.Get("X-Request-Id") != got.Header.Get("X-Request-Id") {
		t.Errorf("request ids differ: client %q upstream %q", resp.Header.Get("X-Request-Id"), got.Header.Get("X-Request-Id"))
	}
}

func jsonQuote(s string) string { return string(appendJSONString(nil, s)) }

func TestStrictPaths(t *testing.T) {
	e := httpEngine(t, detectors.Config{})
	preview := "typing 1234567"
	out, _, err := e.Redact(context.Background(), []byte(preview), detectors.RedactOptions{Strict: true})
	if err != nil || string(out) == preview {
		t.Skip("engine has no strict mode")
	}
	rec := newRecorder(t, nil)
	_, srv := newTestProxy(t, cfgFor(rec.srv.URL, Route{Match: Match{Path: "/m"}, Body: "json", Strict: []string{"$.typing_preview"}}), Options{Engine: e})
	in := `{"typing_preview":"` + preview + `","text":"` + preview + `"}`
	resp, _ := post(t, srv.URL+"/m", "application/json", in)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	want := `{"typing_preview":` + jsonQuote(string(out)) + `,"text":"` + preview + `"}`
	if got := rec.last(t).Body; string(got) != want {
		t.Errorf("upstream got %s, want %s", got, want)
	}
}

func TestFormAndQuery(t *testing.T) {
	e := httpEngine(t, detectors.Config{})
	m := masked(t, e, testCard)
	rec := newRecorder(t, nil)
	_, srv := newTestProxy(t, cfgFor(rec.srv.URL, Route{Match: Match{Path: "/form"}, Skip: []string{"$.ref"}}), Options{Engine: e})
	in := "a=1&card=4111+1111+1111+1111&ref=4111%201111%201111%201111&empty=&flag&z=%7Eok"
	resp, _ := post(t, srv.URL+"/form?q=4111-1111-1111-1111&page=2", "application/x-www-form-urlencoded", in)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := rec.last(t)
	want := "a=1&card=" + string(queryEscape([]byte(m))) + "&ref=4111%201111%201111%201111&empty=&flag&z=%7Eok"
	if string(got.Body) != want {
		t.Errorf("upstream body %s, want %s", got.Body, want)
	}
	noCard(t, "upstream query", []byte(got.RawQuery))
	if !strings.HasSuffix(got.RawQuery, "&page=2") {
		t.Errorf("query %q lost its other values", got.RawQuery)
	}
}

func TestMultipart(t *testing.T) {
	e := httpEngine(t, detectors.Config{})
	m := masked(t, e, testCard)
	body := func(withFile bool) string {
		s := "--XyZ\r\nContent-Disposition: form-data; name=\"msg\"\r\n\r\ncard " + testCard + "\r\n" +
			"--XyZ\r\nContent-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json\r\n\r\n{\"n\":\"" + testCard + "\"}\r\n"
		if withFile {
			s += "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01" + testCard + "\r\n"
		}
		return s + "--XyZ--\r\n"
	}
	rec := newRecorder(t, nil)
	_, srv := newTestProxy(t, cfgFor(rec.srv.URL,
		Route{Match: Match{Path: "/files-ok"}, Files: "allow"},
	), Options{Engine: e})
	const ct = "multipart/form-data; boundary=XyZ"

	t.Run("text parts masked", func(t *testing.T) {
		resp, b := post(t, srv.URL+"/upload", ct, body(false))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		got := rec.last(t).Body
		noCard(t, "upstream", got)
		if !bytes.Contains(got, []byte("card "+m)) || !bytes.Contains(got, []byte(`{"n":`+jsonQuote(m)+`}`)) {
			t.Errorf("upstream body lacks masked parts: %q", got)
		}
	})
	t.Run("file blocked by default", func(t *testing.T) {
		before := rec.hits.Load()
		resp, b := post(t, srv.URL+"/upload", ct, body(true))
		wantError(t, resp, b, http.StatusForbidden, "file_upload_blocked")
		if rec.hits.Load() != before {
			t.Errorf("upstream was hit")
		}
	})
	t.Run("file allowed passes", func(t *testing.T) {
		resp, b := post(t, srv.URL+"/files-ok", ct, body(true))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		got := rec.last(t).Body
		if !bytes.Contains(got, []byte("\x00\x01"+testCard)) || bytes.Contains(got, []byte("card "+testCard)) {
			t.Errorf("file part not passed or text part not masked: %q", got)
		}
	})
	t.Run("binary body blocked", func(t *testing.T) {
		resp, b := post(t, srv.URL+"/upload", "application/octet-stream", "\x00"+testCard)
		wantError(t, resp, b, http.StatusForbidden, "file_upload_blocked")
	})
}

func TestRefusals(t *testing.T) {
	rec := newRecorder(t, nil)
	_, srv := newTestProxy(t, Config{
		Upstream: rec.srv.URL,
		Routes: []Route{
			{Match: Match{Path: "/transcript/*"}, Action: "block"},
			{Match: Match{Path: "/api/*"}, Body: "json"},
		},
		Limits: Limits{MaxBody: 1024},
	}, Options{})
	tests := []struct {
		name, path, ct, body string
		status               int
		code                 string
	}{
		{"route block", "/transcript/email", "application/json", `{}`, 403, "endpoint_blocked"},
		{"route block unclean path", "/x/..//transcript/email/", "application/json", `{}`, 403, "endpoint_blocked"},
		{"route block bare prefix", "/transcript", "text/plain", `x`, 403, "endpoint_blocked"},
		{"unparseable json", "/api/m", "application/json", `{"text": "` + testCard, 400, "malformed_body"},
		{"unparseable by content type", "/other", "application/json; charset=utf-8", `[1,`, 400, "malformed_body"},
		{"bad form", "/other", "application/x-www-form-urlencoded", `a=%zz` + testCard, 400, "malformed_body"},
		{"bad multipart", "/other", "multipart/form-data", `x`, 400, "malformed_body"},
		{"bad gzip", "/api/m", "application/json", "not gzip", 400, "malformed_body"},
		{"too large", "/api/m", "application/json", `"` + strings.Repeat("a", 2000) + `"`, 413, "body_too_large"},
		{"unsupported encoding", "/api/m", "application/json", `{}`, 415, "unsupported_encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := rec.hits.Load()
			req, _ := http.NewRequest(http.MethodPost, srv.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.ct)
			switch tt.name {
			case "bad gzip":
				req.Header.Set("Content-Encoding", "gzip")
			case "unsupported encoding":
				req.Header.Set("Content-Encoding", "br")
			case "route block unclean path":
				req.URL.Opaque = tt.path
			}
			resp, b := do(t, req)
			eb := wantError(t, resp, b, tt.status, tt.code)
			if hits := rec.hits.Load(); hits != before {
				t.Errorf("upstream was hit")
			}
			if strings.Contains(string(b), "4111") || eb.Types != nil {
				t.Errorf("error body %s names a value or types", b)
			}
		})
	}
}

func TestBlockAction(t *testing.T) {
	e := httpEngine(t, detectors.Config{Actions: map[string]string{"card": "block"}})
	fs, err := e.Find(context.Background(), []byte(testCard), detectors.RedactOptions{})
	if err != nil || detectors.Strongest(fs) != detectors.ActionBlock {
		t.Skip("engine does not apply configured actions")
	}
	var blocked atomic.Int64
	obs := &countObserver{blocked: &blocked}
	reply := `{"text":"` + testCard + `"}`
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, reply)
	})
	_, srv := newTestProxy(t, cfgFor(rec.srv.URL), Options{Engine: e, Observer: obs})

	t.Run("request", func(t *testing.T) {
		resp, b := post(t, srv.URL+"/m", "application/json", `{"text":"`+testCard+`"}`)
		eb := wantError(t, resp, b, http.StatusUnprocessableEntity, "blocked")
		if len(eb.Types) != 1 || eb.Types[0] != "card" {
			t.Errorf("types = %v, want [card]", eb.Types)
		}
		noCard(t, "error body", b)
		if rec.hits.Load() != 0 {
			t.Errorf("upstream was hit")
		}
	})
	t.Run("response", func(t *testing.T) {
		resp, b := post(t, srv.URL+"/m", "application/json", `{"text":"hello"}`)
		wantError(t, resp, b, http.StatusUnprocessableEntity, "blocked")
		noCard(t, "error body", b)
	})
	if blocked.Load() != 2 {
		t.Errorf("Observer.Blocked called %d times, want 2", blocked.Load())
	}
}

// countObserver counts the observer calls tests look at.
type countObserver struct {
	nopObserver
	blocked *atomic.Int64
	found   atomic.Int64
	scanned atomic.Int64
}

func (o *countObserver) Scanned(route, direction string, d time.Duration) { o.scanned.Add(1) }

func (o *countObserver) Blocked(route, direction, reason string) {
	if o.blocked != nil {
		o.blocked.Add(1)
	}
}

func (o *countObserver) Found(typ, action, route, direction string) { o.found.Add(1) }

func TestUpstreamDown(t *testing.T) {
	rec := newRecorder(t, nil)
	url := rec.srv.URL
	rec.srv.Close()
	_, srv := newTestProxy(t, cfgFor(url), Options{})
	resp, b := post(t, srv.URL+"/m", "application/json", `{"a":1}`)
	wantError(t, resp, b, http.StatusBadGateway, "upstream_unavailable")
}

func TestManyPostsInARow(t *testing.T) {
	e := httpEngine(t, detectors.Config{})
	rec := newRecorder(t, nil) // echoes
	_, srv := newTestProxy(t, cfgFor(rec.srv.URL), Options{Engine: e})
	m := masked(t, e, testCard)
	for i := range 200 {
		pad := strings.Repeat("x", i*37%5000)
		in := `{"i":` + jsonQuote(pad) + `,"card":"` + testCard + `"}`
		want := `{"i":` + jsonQuote(pad) + `,"card":` + jsonQuote(m) + `}`
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/m", strings.NewReader(in))
		req.Header.Set("Content-Type", "application/json")
		if req.ContentLength != int64(len(in)) {
			t.Fatalf("request has no Content-Length")
		}
		resp, b := do(t, req)
		if resp.StatusCode != http.StatusOK || string(b) != want {
			t.Fatalf("request %d: status %d, body %d bytes, want %d", i, resp.StatusCode, len(b), len(want))
		}
	}
}

// TestManyStreamedAnswersToPosts has the upstream answer (headers
// flushed) before it reads the request body, as a streaming chat completion
// does: every answer must arrive whole (golang/go#40747).
func TestManyStreamedAnswersToPosts(t *testing.T) {
	up := newRecorder(t, nil)
	up.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.EnableFullDuplex(); err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		_ = rc.Flush()
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		for range 4 {
			_, _ = w.Write(body)
			_ = http.NewResponseController(w).Flush()
		}
	})
	_, srv := newTestProxy(t, cfgFor(up.srv.URL), Options{})
	for i := range 200 {
		in := strings.Repeat("chunk of chat text ", 1+i%50)
		resp, b := post(t, srv.URL+"/v1/chat", "text/plain", in)
		if resp.StatusCode != http.StatusOK || string(b) != strings.Repeat(in, 4) {
			t.Fatalf("request %d: status %d, got %d bytes, want %d", i, resp.StatusCode, len(b), 4*len(in))
		}
	}
}

func TestReportAction(t *testing.T) {
	e := httpEngine(t, detectors.Config{Actions: map[string]string{"card": "report"}})
	fs, err := e.Find(context.Background(), []byte(testCard), detectors.RedactOptions{})
	if err != nil || detectors.Strongest(fs) != detectors.ActionReport {
		t.Skip("engine does not apply configured actions")
	}
	obs := &countObserver{}
	rec := newRecorder(t, nil)
	_, srv := newTestProxy(t, cfgFor(rec.srv.URL), Options{Engine: e, Observer: obs})
	in := `{"text":"` + testCard + `"}`
	resp, b := post(t, srv.URL+"/m", "application/json", in)
	if resp.StatusCode != http.StatusOK || string(b) != in {
		t.Fatalf("status %d body %s", resp.StatusCode, b)
	}
	if got := rec.last(t).Body; string(got) != in {
		t.Errorf("upstream got %s, want it unchanged", got)
	}
	if obs.found.Load() != 2 || obs.scanned.Load() != 2 { // request and echoed response
		t.Errorf("Found called %d times, Scanned %d, want 2 each", obs.found.Load(), obs.scanned.Load())
	}
}

func TestUpstreamTLSVerified(t *testing.T) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(up.Close)
	_, srv := newTestProxy(t, cfgFor(up.URL), Options{})
	resp, b := do(t, mustRequest(t, http.MethodGet, srv.URL+"/"))
	wantError(t, resp, b, http.StatusBadGateway, "upstream_unavailable")

	_, trusted := newTestProxy(t, cfgFor(up.URL), Options{Transport: up.Client().Transport})
	resp, _ = do(t, mustRequest(t, http.MethodGet, trusted.URL+"/"))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("with the upstream's CA trusted: status %d", resp.StatusCode)
	}
}

func TestClientCancelPropagates(t *testing.T) {
	arrived := make(chan struct{})
	cancelled := make(chan struct{})
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
		close(cancelled)
	})
	_, srv := newTestProxy(t, cfgFor(rec.srv.URL), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/m", strings.NewReader(`{"a":"b"}`))
	req.Header.Set("Content-Type", "application/json")
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-arrived
	cancel()
	<-cancelled // the upstream saw its request cancelled
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client error = %v, want context.Canceled", err)
	}
}

func TestMaxStreams(t *testing.T) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(arrived)
			<-release
		}
	})
	_, srv := newTestProxy(t, Config{Upstream: rec.srv.URL, Limits: Limits{MaxStreams: 1}}, Options{})
	done := make(chan int, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/slow")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-arrived
	resp, b := do(t, mustRequest(t, http.MethodGet, srv.URL+"/fast"))
	wantError(t, resp, b, http.StatusServiceUnavailable, "too_many_streams")
	close(release)
	if s := <-done; s != http.StatusOK {
		t.Errorf("slow request status %d", s)
	}
	resp, _ = do(t, mustRequest(t, http.MethodGet, srv.URL+"/fast"))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("after release: status %d", resp.StatusCode)
	}
}

func mustRequest(t testing.TB, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestShutdown(t *testing.T) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
	})
	p, srv := newTestProxy(t, cfgFor(rec.srv.URL), Options{})
	done := make(chan int, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/slow")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-arrived
	shut := make(chan error, 1)
	go func() { shut <- p.Shutdown(context.Background()) }()
	<-p.shuttingDown()
	resp, b := do(t, mustRequest(t, http.MethodGet, srv.URL+"/new"))
	wantError(t, resp, b, http.StatusServiceUnavailable, "shutting_down")
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}
	close(release)
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if s := <-done; s != http.StatusOK {
		t.Errorf("in-flight request status %d", s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown with nothing in flight: %v", err)
	}
}
