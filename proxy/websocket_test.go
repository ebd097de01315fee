package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/veilproxy/veil/detectors"
)

// wsUpstream is a WebSocket upstream that records what it receives and the
// handshake it saw, and answers each message with reply (nil: echo).
type wsUpstream struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []string
	header http.Header
	query  string
	closed chan websocket.CloseError // the close the upstream received
	conns  chan *websocket.Conn
}

func newWSUpstream(t testing.TB, reply func(msg []byte) [][]byte, protos ...string) *wsUpstream {
	t.Helper()
	u := &wsUpstream{closed: make(chan websocket.CloseError, 1), conns: make(chan *websocket.Conn, 1)}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.header = r.Header.Clone()
		u.query = r.URL.RawQuery
		u.mu.Unlock()
		if r.Header.Get("Authorization") == "Bearer refuse" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "upstream_session", Value: "s1"})
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: protos, InsecureSkipVerify: true,
			CompressionMode: websocket.CompressionNoContextTakeover})
		if err != nil {
			return
		}
		c.SetReadLimit(-1)
		select {
		case u.conns <- c:
		default:
		}
		ctx := context.Background()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				var ce websocket.CloseError
				if errors.As(err, &ce) {
					u.closed <- ce
				} else {
					u.closed <- websocket.CloseError{Code: -1}
				}
				return
			}
			u.mu.Lock()
			u.got = append(u.got, string(msg))
			u.mu.Unlock()
			out := [][]byte{msg}
			if reply != nil {
				out = reply(msg)
			}
			for _, m := range out {
				if err := c.Write(ctx, typ, m); err != nil {
					return
				}
			}
		}
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *wsUpstream) received() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.got...)
}

// wsRoutes is a JSON WebSocket route with a strict typing preview.
func wsRoutes() []Route {
	return []Route{{Match: Match{Path: "/ws"}, WebSocket: &WebSocketRoute{Body: "json", Strict: []string{"$.typing_preview"}}}}
}

// wsDial connects a client to the proxy's /ws.
func wsDial(t testing.TB, env *streamEnv, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(env.front.URL, "http")+"/ws", opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.SetReadLimit(-1)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// wsRoundTrip sends msg and returns the next message received.
func wsRoundTrip(t testing.TB, c *websocket.Conn, msg string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	_, got, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(got)
}

// wsCloseOf waits for c to be closed by the proxy and returns the close.
func wsCloseOf(t testing.TB, c *websocket.Conn) websocket.CloseError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("connection ended without a close frame: %v", err)
		}
		return ce
	}
}

func TestWebSocketEchoMasked(t *testing.T) {
	up := newWSUpstream(t, nil)
	env := newStreamEnv(t, up.srv.URL, wsRoutes(), Limits{}, nil, Options{})
	c := wsDial(t, env, nil)
	tests := []struct {
		name, msg, want string
	}{
		{"json", `{"type":"message","text":"card 4111 1111 1111 1111 ok"}`, `{"type":"message","text":"card [CARD] ok"}`},
		{"clean json", `{"type":"message","text":"hello"}`, `{"type":"message","text":"hello"}`},
		{"socket.io frame", `42["message",{"text":"4111-1111-1111-1111"}]`, `42["message",{"text":"[CARD]"}]`},
		{"not json", `plain 4111 1111 1111 1111`, `plain [CARD]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := wsRoundTrip(t, c, tt.msg)
			if strings.Contains(got, "4111") || strings.Contains(got, "1111 1111") {
				t.Fatalf("card reached the client: %q", got)
			}
			recv := up.received()
			if last := recv[len(recv)-1]; strings.Contains(last, "4111") {
				t.Fatalf("card reached the upstream: %q", last)
			}
			if !strings.Contains(tt.want, "[CARD]") && got != tt.want {
				t.Fatalf("clean message changed: %q, want %q", got, tt.want)
			}
		})
	}
	env.assertNoLeak(t, "4111 1111 1111 1111", "4111-1111-1111-1111")
}

func TestWebSocketChatUpstreamMasked(t *testing.T) {
	up := newWSUpstream(t, func([]byte) [][]byte {
		return [][]byte{[]byte(`{"from":"agent","text":"we have 5555 5555 5555 4444 on file"}`)}
	})
	env := newStreamEnv(t, up.srv.URL, wsRoutes(), Limits{}, nil, Options{})
	c := wsDial(t, env, nil)
	got := wsRoundTrip(t, c, `{"text":"hi"}`)
	if strings.Contains(got, "5555") || !strings.Contains(got, `"from":"agent"`) || !strings.HasSuffix(got, ` on file"}`) {
		t.Fatalf("response message %q", got)
	}
	if env.obs.foundCount("card/response") != 1 {
		t.Errorf("card finding in the response direction not reported")
	}
}

func TestWebSocketSplitAcrossMessages(t *testing.T) {
	up := newWSUpstream(t, nil)
	env := newStreamEnv(t, up.srv.URL, wsRoutes(), Limits{}, nil, Options{})
	c := wsDial(t, env, nil)
	first := wsRoundTrip(t, c, `{"text":"4111 1111"}`)
	second := wsRoundTrip(t, c, `{"text":"1111 1111"}`)
	if first != `{"text":"4111 1111"}` {
		t.Errorf("first half changed: %q", first)
	}
	if strings.Contains(second, "1111 1111") {
		t.Fatalf("second half of a card passed: %q", second)
	}
}

// TestWebSocketCardTailAcrossMessages sends a card, its expiry and its
// code as three messages: the expiry and code follow the card and are
// masked, though neither has a word of its own.
func TestWebSocketCardTailAcrossMessages(t *testing.T) {
	up := newWSUpstream(t, nil)
	env := newStreamEnv(t, up.srv.URL, wsRoutes(), Limits{}, nil, Options{})
	c := wsDial(t, env, nil)
	for _, msg := range []string{`{"text":"my card is 4111 1111 1111 1111"}`, `{"text":"12/27"}`, `{"text":"321"}`} {
		wsRoundTrip(t, c, msg)
	}
	after := wsRoundTrip(t, c, `{"text":"456"}`) // the card has both: a number again
	recv := up.received()
	for _, secret := range []string{"4111", "12/27", "321"} {
		for _, m := range recv {
			if strings.Contains(m, secret) {
				t.Errorf("%q reached the upstream: %q", secret, m)
			}
		}
	}
	if after != `{"text":"456"}` {
		t.Errorf("a number after the card's expiry and code changed: %q", after)
	}
	// Another field, or the other direction, is another thread.
	c2 := wsDial(t, env, nil)
	wsRoundTrip(t, c2, `{"text":"4111 1111 1111 1111"}`)
	if got := wsRoundTrip(t, c2, `{"note":"123"}`); got != `{"note":"123"}` {
		t.Errorf("a number in another field changed: %q", got)
	}
	env.assertNoLeak(t, "4111 1111 1111 1111", "12/27")
}

// TestWebSocketAnswerToAQuestion: the agent asks in one direction, the
// visitor answers in the other with a bare number, which the question
// names.
func TestWebSocketAnswerToAQuestion(t *testing.T) {
	up := newWSUpstream(t, func(msg []byte) [][]byte {
		switch {
		case strings.Contains(string(msg), "verify"):
			return [][]byte{[]byte(`{"from":"agent","text":"Sure. What are the last 4 of your SSN?"}`)}
		case strings.Contains(string(msg), "hello"):
			return [][]byte{[]byte(`{"from":"agent","text":"Hi! How many items did you order?"}`)}
		}
		return [][]byte{[]byte(`{"from":"agent","text":"ok"}`)}
	})
	env := newStreamEnv(t, up.srv.URL, wsRoutes(), Limits{}, nil, Options{})
	c := wsDial(t, env, nil)
	wsRoundTrip(t, c, `{"text":"I need to verify my account"}`)
	wsRoundTrip(t, c, `{"text":"8741"}`)
	wsRoundTrip(t, c, `{"text":"hello"}`)
	wsRoundTrip(t, c, `{"text":"8742"}`) // an answer, but not to a question naming a value
	recv := up.received()
	if len(recv) != 4 {
		t.Fatalf("upstream received %d messages, want 4", len(recv))
	}
	if strings.Contains(recv[1], "8741") {
		t.Errorf("the last 4 of the SSN reached the upstream: %q", recv[1])
	}
	if recv[3] != `{"text":"8742"}` {
		t.Errorf("a number answering an ordinary question changed: %q", recv[3])
	}
	env.assertNoLeak(t, "8741")
}

func TestWebSocketStrictPath(t *testing.T) {
	up := newWSUpstream(t, nil)
	env := newStreamEnv(t, up.srv.URL, wsRoutes(), Limits{}, nil, Options{})
	c := wsDial(t, env, nil)
	got := wsRoundTrip(t, c, `{"typing_preview":"my member id 12345678","text":"order 12345678"}`)
	if strings.Contains(got, `"typing_preview":"my member id 12345678"`) {
		t.Fatalf("strict path kept a digit run: %q", got)
	}
	if !strings.Contains(got, `"text":"order 12345678"`) {
		t.Fatalf("non-strict field changed: %q", got)
	}
}

func TestWebSocketHandshake(t *testing.T) {
	up := newWSUpstream(t, nil, "chat.v2")
	env := newStreamEnv(t, up.srv.URL, wsRoutes(), Limits{}, nil, Options{})
	h := http.Header{}
	h.Set("Authorization", "Bearer abc")
	h.Set("Cookie", "session=xyz")
	h.Set("Origin", "https://chat.example.com")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(env.front.URL, "http")+"/ws?room=7&note=4111111111111111",
		&websocket.DialOptions{HTTPHeader: h, Subprotocols: []string{"chat.v3", "chat.v2"}, CompressionMode: websocket.CompressionNoContextTakeover})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if c.Subprotocol() != "chat.v2" {
		t.Errorf("subprotocol %q, want chat.v2", c.Subprotocol())
	}
	if !strings.Contains(resp.Header.Get("Set-Cookie"), "upstream_session=s1") {
		t.Errorf("upstream cookie not passed: %q", resp.Header.Values("Set-Cookie"))
	}
	if !hasExtension(resp.Header, "permessage-deflate") {
		t.Errorf("permessage-deflate not negotiated with the client")
	}
	if got := wsRoundTrip(t, c, `{"text":"`+strings.Repeat("compress me ", 100)+`"}`); !strings.HasPrefix(got, `{"text":"compress me`) {
		t.Errorf("compressed message: %q", got[:40])
	}
	up.mu.Lock()
	seen, query := up.header, up.query
	up.mu.Unlock()
	if strings.Contains(query, "4111") || !strings.Contains(query, "room=7") {
		t.Errorf("upstream query %q", query)
	}
	for k, want := range map[string]string{"Authorization": "Bearer abc", "Cookie": "session=xyz", "Origin": "https://chat.example.com"} {
		if seen.Get(k) != want {
			t.Errorf("upstream %s = %q, want %q", k, seen.Get(k), want)
		}
	}
	if seen.Get("X-Forwarded-For") == "" {
		t.Errorf("X-Forwarded-For not set")
	}

	t.Run("refused", func(t *testing.T) {
		h := http.Header{}
		h.Set("Authorization", "Bearer refuse")
		_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(env.front.URL, "http")+"/ws", &websocket.DialOptions{HTTPHeader: h})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("refused upstream handshake: err %v, resp %v", err, resp)
		}
	})
}

func TestWebSocketCloseCodes(t *testing.T) {
	t.Run("client closes", func(t *testing.T) {
		up := newWSUpstream(t, nil)
		env := newStreamEnv(t, up.srv.URL, wsRoutes(), Limits{}, nil, Options{})
		c := wsDial(t, env, nil)
		wsRoundTrip(t, c, `{"text":"hi"}`)
		_ = c.Close(4001, "visitor left")
		ce := <-up.closed
		if ce.Code != 4001 || ce.Reason != "visitor left" {
			t.Fatalf("upstream got %v", ce)
		}
	})
	t.Run("upstream closes", func(t *testing.T) {
		up := newWSUpstream(t, nil)
		env := newStreamEnv(t, up.srv.URL, wsRoutes(), Limits{}, nil, Options{})
		c := wsDial(t, env, nil)
		wsRoundTrip(t, c, `{"text":"hi"}`)
		uc := <-up.conns
		go func() { _ = uc.Close(4002, "chat ended") }()
		ce := wsCloseOf(t, c)
		if ce.Code != 4002 || ce.Reason != "chat ended" {
			t.Fatalf("client got %v", ce)
		}
	})
}

func TestWebSocketPolicyCloses(t *testing.T) {
	tests := []struct {
		name    string
		routes  []Route
		limits  Limits
		actions map[string]string
		typ     websocket.MessageType
		msg     string
		code    websocket.StatusCode
		reason  string
	}{
		{name: "binary blocked", routes: wsRoutes(), typ: websocket.MessageBinary, msg: "\x00\x01", code: websocket.StatusUnsupportedData},
		{name: "too big", routes: wsRoutes(), limits: Limits{MaxWSMessage: 1024}, typ: websocket.MessageText,
			msg: `{"text":"` + strings.Repeat("a", 4096) + `"}`, code: websocket.StatusMessageTooBig},
		{name: "blocked type", routes: wsRoutes(), actions: map[string]string{"card": "block"}, typ: websocket.MessageText,
			msg: `{"text":"4111 1111 1111 1111"}`, code: websocket.StatusPolicyViolation, reason: "blocked: card"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newWSUpstream(t, nil)
			env := newStreamEnv(t, up.srv.URL, tt.routes, tt.limits, tt.actions, Options{})
			c := wsDial(t, env, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.Write(ctx, tt.typ, []byte(tt.msg)); err != nil {
				t.Fatal(err)
			}
			ce := wsCloseOf(t, c)
			if ce.Code != tt.code || (tt.reason != "" && ce.Reason != tt.reason) {
				t.Fatalf("close %v, want %d %q", ce, tt.code, tt.reason)
			}
			if strings.Contains(ce.Reason, "4111") {
				t.Fatalf("close reason names the value")
			}
			for _, m := range up.received() {
				if strings.Contains(m, "4111") || strings.Contains(m, "\x00") {
					t.Fatalf("refused message reached the upstream")
				}
			}
			env.assertNoLeak(t, "4111 1111 1111 1111")
		})
	}
}

func TestWebSocketBinaryPass(t *testing.T) {
	up := newWSUpstream(t, nil)
	routes := []Route{{Match: Match{Path: "/ws"}, WebSocket: &WebSocketRoute{Body: "json", Binary: "pass"}}}
	env := newStreamEnv(t, up.srv.URL, routes, Limits{}, nil, Options{})
	c := wsDial(t, env, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageBinary, []byte{0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	typ, got, err := c.Read(ctx)
	if err != nil || typ != websocket.MessageBinary || string(got) != "\x00\x01\x02" {
		t.Fatalf("binary echo: %v %v %q", typ, err, got)
	}
}

func TestWebSocketSecureCommand(t *testing.T) {
	up := newWSUpstream(t, nil)
	secure := func(ctx context.Context, form string) (string, bool, error) {
		if form != "payment" {
			return "", false, nil
		}
		return "Please use this secure form: https://veil.example/veil/f/abc", true, nil
	}
	env := newStreamEnv(t, up.srv.URL, wsRoutes(), Limits{}, nil, Options{SecureCommand: secure})
	c := wsDial(t, env, nil)
	if got := wsRoundTrip(t, c, `{"text":"/secure payment"}`); got != `{"text":"Please use this secure form: https://veil.example/veil/f/abc"}` {
		t.Fatalf("secure command: %q", got)
	}
	if got := wsRoundTrip(t, c, `{"text":"/secure nosuch"}`); got != `{"text":"/secure nosuch"}` {
		t.Fatalf("unknown form: %q", got)
	}
}

func TestWebSocketShutdown(t *testing.T) {
	up := newWSUpstream(t, nil)
	env := newStreamEnv(t, up.srv.URL, wsRoutes(), Limits{}, nil, Options{})
	c := wsDial(t, env, nil)
	wsRoundTrip(t, c, `{"text":"hi"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- env.p.Shutdown(ctx) }()
	if ce := wsCloseOf(t, c); ce.Code != websocket.StatusGoingAway {
		t.Fatalf("client close %v, want 1001", ce)
	}
	if ce := <-up.closed; ce.Code != websocket.StatusGoingAway {
		t.Fatalf("upstream close %v, want 1001", ce)
	}
	if err := <-errc; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	env.obs.mu.Lock()
	defer env.obs.mu.Unlock()
	if env.obs.conns != 0 || env.obs.maxConn != 1 {
		t.Errorf("WebSocketConns gauge %d (max %d)", env.obs.conns, env.obs.maxConn)
	}
}

func TestWebSocketIdleTimeout(t *testing.T) {
	up := newWSUpstream(t, nil)
	env := newStreamEnv(t, up.srv.URL, wsRoutes(), Limits{WSIdleTimeout: 200 * time.Millisecond}, nil, Options{})
	c := wsDial(t, env, nil)
	wsRoundTrip(t, c, `{"text":"hi"}`)
	if ce := wsCloseOf(t, c); ce.Code != websocket.StatusGoingAway || ce.Reason != "idle timeout" {
		t.Fatalf("close %v", ce)
	}
}

func BenchmarkWebSocketRelay(b *testing.B) {
	up := newWSUpstream(b, nil)
	env := newStreamEnv(b, up.srv.URL, wsRoutes(), Limits{}, nil, Options{})
	c := wsDial(b, env, nil)
	msg := []byte(`{"type":"message","author":{"id":"v-123"},"text":"Hello, I would like to change the delivery address on my order please."}`)
	ctx := context.Background()
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// countingDiverter replaces each diverted value with a link and counts.
type countingDiverter struct {
	mu    sync.Mutex
	calls int
}

func (d *countingDiverter) Divert(ctx context.Context, f detectors.Finding, value []byte) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	return "[kept: https://veil.example/veil/r/t]", nil
}

// TestStreamsDivertPerConversation checks that each WebSocket connection
// and each event stream gets its own Diverter, and that diverted values are
// replaced by what the Diverter returns.
func TestStreamsDivertPerConversation(t *testing.T) {
	var mu sync.Mutex
	var made []*countingDiverter
	newDiverter := func() detectors.Diverter {
		mu.Lock()
		defer mu.Unlock()
		d := &countingDiverter{}
		made = append(made, d)
		return d
	}
	actions := map[string]string{"card": "divert"}

	t.Run("websocket", func(t *testing.T) {
		mu.Lock()
		made = nil
		mu.Unlock()
		up := newWSUpstream(t, nil)
		env := newStreamEnv(t, up.srv.URL, wsRoutes(), Limits{}, actions, Options{NewDiverter: newDiverter})
		for i := 0; i < 2; i++ {
			c := wsDial(t, env, nil)
			got := wsRoundTrip(t, c, `{"text":"card 4111 1111 1111 1111"}`)
			if strings.Contains(got, "4111") || !strings.Contains(got, "[kept: https://veil.example/veil/r/t]") {
				t.Fatalf("diverted message %q", got)
			}
			_ = c.Close(websocket.StatusNormalClosure, "")
		}
		mu.Lock()
		defer mu.Unlock()
		if len(made) != 2 {
			t.Fatalf("%d diverters for 2 connections", len(made))
		}
	})
	t.Run("sse", func(t *testing.T) {
		mu.Lock()
		made = nil
		mu.Unlock()
		stream := sseOpenAIStream("card ", "4111 1111 ", "1111 1111", " ok")
		up := sseUpstream(t, func(*http.Request) []string { return []string{stream} })
		env := newStreamEnv(t, up.URL, sseRoutes(), Limits{}, actions, Options{NewDiverter: newDiverter})
		got := postSSE(t, env.front.URL)
		texts, _ := sseContents(t, got)
		if strings.Contains(got, "4111") || texts[0] != "card [kept: https://veil.example/veil/r/t] ok" {
			t.Fatalf("diverted stream %q", texts[0])
		}
		mu.Lock()
		defer mu.Unlock()
		if len(made) != 1 {
			t.Fatalf("%d diverters for one stream", len(made))
		}
	})
}

// pingUpstream is a WebSocket upstream that reports the pings it receives
// and reads only while read is true.
func pingUpstream(t *testing.T, read bool) (url string, pings chan struct{}, conns chan *websocket.Conn, closed chan websocket.CloseError) {
	pings, conns, closed = make(chan struct{}, 16), make(chan *websocket.Conn, 1), make(chan websocket.CloseError, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OnPingReceived: func(context.Context, []byte) bool {
			pings <- struct{}{}
			return true
		}})
		if err != nil {
			return
		}
		conns <- c
		if !read {
			<-r.Context().Done()
			return
		}
		_, _, err = c.Read(context.Background())
		var ce websocket.CloseError
		errors.As(err, &ce)
		closed <- ce
	}))
	t.Cleanup(srv.Close)
	return srv.URL, pings, conns, closed
}

// TestWebSocketPing checks that a ping from either side is answered and
// makes Veil ping the other side.
func TestWebSocketPing(t *testing.T) {
	upURL, upPings, conns, _ := pingUpstream(t, true)
	env := newStreamEnv(t, upURL, wsRoutes(), Limits{}, nil, Options{})
	clientPings := make(chan struct{}, 16)
	c := wsDial(t, env, &websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
		clientPings <- struct{}{}
		return true
	}})
	uc := <-conns
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	readCtx := c.CloseRead(ctx)
	if err := c.Ping(readCtx); err != nil {
		t.Fatalf("client ping: %v", err)
	}
	select {
	case <-upPings:
	case <-ctx.Done():
		t.Fatal("the client's ping did not reach the upstream as a ping")
	}
	upRead := uc.CloseRead(ctx)
	if err := uc.Ping(upRead); err != nil {
		t.Fatalf("upstream ping: %v", err)
	}
	select {
	case <-clientPings:
	case <-ctx.Done():
		t.Fatal("the upstream's ping did not reach the client as a ping")
	}
}

// TestWebSocketPingFindsDeadPeer checks that a side that stops answering
// pings ends the relay: the other side gets the close a dropped
// connection gives.
func TestWebSocketPingFindsDeadPeer(t *testing.T) {
	limits := Limits{WSPingTimeout: 200 * time.Millisecond}
	t.Run("client", func(t *testing.T) {
		upURL, _, conns, closed := pingUpstream(t, true)
		env := newStreamEnv(t, upURL, wsRoutes(), limits, nil, Options{})
		wsDial(t, env, nil) // never reads: cannot answer a ping
		uc := <-conns
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// The upstream reads in pingUpstream; its ping is Veil's to answer.
		if err := uc.Ping(ctx); err != nil {
			t.Fatalf("upstream ping: %v", err)
		}
		select {
		case ce := <-closed:
			if ce.Code != websocket.StatusGoingAway || ce.Reason != "client gone" {
				t.Fatalf("upstream got close %d %q, want 1001 client gone", ce.Code, ce.Reason)
			}
		case <-ctx.Done():
			t.Fatal("the relay outlived a client that answers no ping")
		}
	})
	t.Run("upstream", func(t *testing.T) {
		upURL, _, _, _ := pingUpstream(t, false)
		env := newStreamEnv(t, upURL, wsRoutes(), limits, nil, Options{})
		c := wsDial(t, env, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// The client's reader takes the pong, then the close.
		readErr := make(chan error, 1)
		go func() {
			_, _, err := c.Read(ctx)
			readErr <- err
		}()
		if err := c.Ping(ctx); err != nil {
			t.Fatalf("client ping: %v", err)
		}
		var ce websocket.CloseError
		if err := <-readErr; !errors.As(err, &ce) || ce.Code != websocket.StatusBadGateway || ce.Reason != "upstream gone" {
			t.Fatalf("client read ended with %v, want close 1014 upstream gone", err)
		}
	})
}
