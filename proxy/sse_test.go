package proxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veilproxy/veil/detectors"
)

// streamObserver records what the proxy reports.
type streamObserver struct {
	mu      sync.Mutex
	found   map[string]int // type/direction
	blocked []string
	held    int
	conns   int
	maxConn int
}

func (o *streamObserver) Scanned(string, string, time.Duration) {}
func (o *streamObserver) Found(typ, action, route, direction string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.found == nil {
		o.found = make(map[string]int)
	}
	o.found[typ+"/"+direction]++
}
func (o *streamObserver) Blocked(route, direction, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.blocked = append(o.blocked, direction+"/"+reason)
}
func (o *streamObserver) SSEHeld(time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.held++
}
func (o *streamObserver) WebSocketConns(delta int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.conns += delta
	o.maxConn = max(o.maxConn, o.conns)
}

func (o *streamObserver) foundCount(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.found[key]
}

// streamEnv is a proxy in front of an upstream, with its logs and metrics.
type streamEnv struct {
	p     *Proxy
	front *httptest.Server
	logs  *syncBuffer
	obs   *streamObserver
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newStreamEnv starts a proxy for upstream with routes and the default
// engine (actions as given), logging at debug level to a buffer.
func newStreamEnv(t testing.TB, upstream string, routes []Route, limits Limits, actions map[string]string, opts Options) *streamEnv {
	t.Helper()
	eng, err := detectors.Compile(detectors.Config{Actions: actions})
	if err != nil {
		t.Fatal(err)
	}
	env := &streamEnv{logs: &syncBuffer{}, obs: &streamObserver{}}
	opts.Engine = eng
	opts.Logger = slog.New(slog.NewTextHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Observer = env.obs
	env.p, err = New(Config{Upstream: upstream, Routes: routes, Limits: limits}, opts)
	if err != nil {
		t.Fatal(err)
	}
	env.front = httptest.NewServer(env.p)
	t.Cleanup(env.front.Close)
	return env
}

// assertNoLeak fails when any of values appears in the proxy's logs.
func (e *streamEnv) assertNoLeak(t testing.TB, values ...string) {
	t.Helper()
	logs := e.logs.String()
	for _, v := range values {
		if v != "" && strings.Contains(logs, v) {
			t.Errorf("logs hold a test value")
		}
	}
}

// sseRoutes is the OpenAI-style chat completion route.
func sseRoutes() []Route {
	return []Route{{Match: Match{Path: "/v1/chat/completions"}, SSE: &SSERoute{Text: "$.choices[*].delta.content"}}}
}

// sseUpstream serves the given byte pieces as an event stream, flushing
// after each one.
func sseUpstream(t testing.TB, pieces func(r *http.Request) []string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		for _, p := range pieces(r) {
			if _, err := io.WriteString(w, p); err != nil {
				return
			}
			_ = rc.Flush()
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// cutEvery cuts s into pieces of n bytes.
func cutEvery(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

// postSSE posts a chat request with a Content-Length and returns the whole
// event stream received.
func postSSE(t testing.TB, url string) string {
	t.Helper()
	body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q, status %d", ct, resp.StatusCode)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	return string(b)
}

func TestSSECardSplitAcrossEvents(t *testing.T) {
	const card = "4111 1111 1111 1111"
	stream := sseOpenAIStream("Your card ", "41", "11 11", "11 1111 ", "1111", " is noted.")
	tests := []struct {
		name  string
		piece int
	}{
		{"whole events", len(stream)},
		{"3-byte chunks", 3},
		{"17-byte chunks", 17},
		{"1-byte chunks", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := sseUpstream(t, func(*http.Request) []string { return cutEvery(stream, tt.piece) })
			env := newStreamEnv(t, up.URL, sseRoutes(), Limits{}, nil, Options{})
			got := postSSE(t, env.front.URL)
			if strings.Contains(got, "4111") || strings.Contains(strings.ReplaceAll(got, " ", ""), "1111111111111111") {
				t.Fatalf("card reached the client:\n%s", got)
			}
			texts, done := sseContents(t, got)
			if !done {
				t.Fatalf("[DONE] is not the last event:\n%s", got)
			}
			if !strings.HasPrefix(texts[0], "Your card ") || !strings.HasSuffix(texts[0], " is noted.") || strings.Count(got, "data: ") < 8 {
				t.Fatalf("text %q, stream:\n%s", texts[0], got)
			}
			if stop := strings.Index(got, `"finish_reason":"stop"`); stop < 0 || strings.Contains(got[stop:], `"content":"`) {
				t.Fatalf("text released after the choice finished:\n%s", got)
			}
			if env.obs.foundCount("card/response") == 0 {
				t.Errorf("no card finding reported")
			}
			env.obs.mu.Lock()
			held := env.obs.held
			env.obs.mu.Unlock()
			if held == 0 {
				t.Errorf("no hold-back reported to SSEHeld")
			}
			env.assertNoLeak(t, card, "4111")
		})
	}
}

func TestSSEPerChoiceContinuity(t *testing.T) {
	ev := func(idx int, content string) string {
		return fmt.Sprintf(`data: {"choices":[{"index":%d,"delta":{"content":%q}}]}`+"\n\n", idx, content)
	}
	stream := ev(0, "a: 4111 1111 ") + ev(1, "b: 5555 5555 ") + ev(0, "1111 1111 end0") +
		ev(1, "5555 4444 end1") + "data: [DONE]\n\n"
	up := sseUpstream(t, func(*http.Request) []string { return cutEvery(stream, 11) })
	env := newStreamEnv(t, up.URL, sseRoutes(), Limits{}, nil, Options{})
	got := postSSE(t, env.front.URL)
	texts, done := sseContents(t, got)
	if !done {
		t.Fatalf("[DONE] not last:\n%s", got)
	}
	for i, want := range []string{"a: ", "b: "} {
		if !strings.HasPrefix(texts[i], want) || !strings.HasSuffix(texts[i], fmt.Sprintf("end%d", i)) {
			t.Errorf("choice %d: %q", i, texts[i])
		}
		if strings.Contains(texts[i], "1111 1111") || strings.Contains(texts[i], "5555 5555") {
			t.Errorf("choice %d leaked: %q", i, texts[i])
		}
	}
}

func TestSSEFramingPreserved(t *testing.T) {
	stream := ": welcome 1\r\nretry: 3000\r\n\r\n" +
		"id: 1\r\nevent: delta\r\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hello\"}}]}\r\n\r\n" +
		": keepalive\r\n\r\n" +
		"id: 2\r\nevent: delta\r\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" world\"}}]}\r\n\r\n" +
		"data: [DONE]\r\n\r\n"
	up := sseUpstream(t, func(*http.Request) []string { return cutEvery(stream, 5) })
	env := newStreamEnv(t, up.URL, sseRoutes(), Limits{}, nil, Options{})
	got := postSSE(t, env.front.URL)
	for _, want := range []string{": welcome 1\r\n", "retry: 3000\r\n", "id: 1\r\nevent: delta\r\n", "id: 2\r\nevent: delta\r\n", ": keepalive\r\n\r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%q", want, got)
		}
	}
	if strings.Index(got, "id: 1") > strings.Index(got, "id: 2") || !strings.HasSuffix(got, "data: [DONE]\r\n\r\n") {
		t.Errorf("order changed:\n%q", got)
	}
	texts, _ := sseContents(t, got)
	if texts[0] != "hello world" {
		t.Errorf("text %q", texts[0])
	}
}

// TestSSECleanTextNotDelayed checks that each event reaches the client,
// unmodified, before the upstream sends the next one when its text cannot
// start a match. (A delta that ends inside a word may have that word held
// until the next delta shows where the word ends.)
func TestSSECleanTextNotDelayed(t *testing.T) {
	parts := []string{"Hello ", "there, ", "how ", "can I ", "help? "}
	next := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for _, p := range parts {
			fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%q}}]}\n\n", p)
			_ = rc.Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	defer up.Close()
	env := newStreamEnv(t, up.URL, sseRoutes(), Limits{}, nil, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, env.front.URL+"/v1/chat/completions", strings.NewReader(`{}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i, p := range parts {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("event %d did not arrive before the next was sent: %v", i, err)
		}
		want := fmt.Sprintf("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%q}}]}\n", p)
		if line != want {
			t.Fatalf("event %d: %q, want %q", i, line, want)
		}
		if blank, _ := br.ReadString('\n'); blank != "\n" {
			t.Fatalf("event %d not terminated", i)
		}
		next <- struct{}{}
	}
}

// TestSSEManyStreams runs POST+SSE exchanges in a row (golang/go#40747):
// every stream must arrive whole.
func TestSSEManyStreams(t *testing.T) {
	stream := sseOpenAIStream("one ", "two ", "three ", "4111 1111 1111 1111", " four")
	up := sseUpstream(t, func(*http.Request) []string { return cutEvery(stream, 64) })
	env := newStreamEnv(t, up.URL, sseRoutes(), Limits{}, nil, Options{})
	for i := 0; i < 20; i++ {
		got := postSSE(t, env.front.URL)
		texts, done := sseContents(t, got)
		if !done || !strings.HasPrefix(texts[0], "one two three ") || !strings.HasSuffix(texts[0], " four") || strings.Contains(got, "4111") {
			t.Fatalf("stream %d: %q\n%s", i, texts[0], got)
		}
	}
}

func TestSSEErrorEvents(t *testing.T) {
	tests := []struct {
		name    string
		stream  string
		limits  Limits
		actions map[string]string
		code    string
	}{
		{
			name:    "block",
			stream:  sseOpenAIStream("pay with ", "4111 1111 1111 1111", " now"),
			actions: map[string]string{"card": "block"},
			code:    `"code":"blocked","types":["card"]`,
		},
		{
			name:   "event too large",
			stream: sseOpenAIStream("ok", strings.Repeat("x", 4000)),
			limits: Limits{MaxSSEEvent: 1024},
			code:   `"code":"event_too_large"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := sseUpstream(t, func(*http.Request) []string { return cutEvery(tt.stream, 50) })
			env := newStreamEnv(t, up.URL, sseRoutes(), tt.limits, tt.actions, Options{})
			got := postSSE(t, env.front.URL)
			if !strings.HasSuffix(got, "\n\n") || !strings.Contains(got, "event: error\ndata: {") || !strings.Contains(got, tt.code) {
				t.Fatalf("no error event with %s:\n%s", tt.code, got)
			}
			if strings.Contains(got, "[DONE]") || strings.Contains(got, "4111") {
				t.Fatalf("stream went on after the error:\n%s", got)
			}
			env.assertNoLeak(t, "4111 1111 1111 1111")
		})
	}
}

func TestSSERawData(t *testing.T) {
	stream := "data: my card is 4111 11\n\ndata: 11 1111 1111 thanks\n\n"
	up := sseUpstream(t, func(*http.Request) []string { return cutEvery(stream, 9) })
	env := newStreamEnv(t, up.URL, []Route{{Match: Match{Path: "/v1/chat/completions"}, SSE: &SSERoute{}}}, Limits{}, nil, Options{})
	got := postSSE(t, env.front.URL)
	var text strings.Builder
	for _, ev := range sseRefParse(got) {
		text.WriteString(ev.Data)
	}
	if strings.Contains(got, "4111") || !strings.HasPrefix(text.String(), "my card is ") || !strings.HasSuffix(text.String(), " thanks") {
		t.Fatalf("raw stream: %q", got)
	}
}

// TestSSEShutdown checks that Shutdown ends a live stream cleanly: the
// events sent so far arrive, then the body ends.
func TestSSEShutdown(t *testing.T) {
	sent := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"partial 4111 1111\"}}]}\n\n")
		_ = http.NewResponseController(w).Flush()
		close(sent)
		<-r.Context().Done()
	}))
	defer up.Close()
	env := newStreamEnv(t, up.URL, sseRoutes(), Limits{}, nil, Options{})
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Post(env.front.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-sent
	// Wait until Veil has read the upstream's event: the part that cannot
	// start a value ("partial ") reaches the client at once, and the digits
	// are held. Only then is there held text for the shutdown to release.
	br := bufio.NewReader(resp.Body)
	var head strings.Builder
	for !strings.Contains(head.String(), "partial") {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the first event: %v (so far %q)", err, head.String())
		}
		head.WriteString(line)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- env.p.Shutdown(ctx) }()
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("stream did not end cleanly: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	b := head.String() + string(rest)
	texts, _ := sseContents(t, b)
	if texts[0] != "partial 4111 1111" {
		t.Fatalf("held text not released at shutdown: %q", b)
	}
}

// TestSSEGzip checks that a gzip-encoded event stream is decoded, scanned
// and sent on as identity.
func TestSSEGzip(t *testing.T) {
	stream := sseOpenAIStream("card ", "4111 1111 1111 1111", " ok")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		for _, p := range cutEvery(stream, 40) {
			_, _ = io.WriteString(zw, p)
			_ = zw.Flush()
			_ = http.NewResponseController(w).Flush()
		}
		_ = zw.Close()
	}))
	defer up.Close()
	env := newStreamEnv(t, up.URL, sseRoutes(), Limits{}, nil, Options{})
	req, _ := http.NewRequest(http.MethodPost, env.front.URL+"/v1/chat/completions", strings.NewReader(`{}`))
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("Content-Encoding %q on the rewritten stream", resp.Header.Get("Content-Encoding"))
	}
	texts, done := sseContents(t, string(b))
	if !done || strings.Contains(string(b), "4111") || !strings.HasPrefix(texts[0], "card ") || !strings.HasSuffix(texts[0], " ok") {
		t.Fatalf("gzip stream: %q", b)
	}
}
