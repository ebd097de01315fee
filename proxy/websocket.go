package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/veilproxy/veil/detectors"
)

// wsHandshakeHeader reports whether the canonical header key belongs to
// the WebSocket handshake or the hop (set by each side's handshake itself),
// so it is never copied from the client's request to the upstream's.
func wsHandshakeHeader(key string) bool {
	switch key {
	case "Connection", "Upgrade", "Sec-Websocket-Key", "Sec-Websocket-Version",
		"Sec-Websocket-Extensions", "Sec-Websocket-Protocol", "Sec-Websocket-Accept",
		"Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate",
		"Te", "Trailer", "Transfer-Encoding", "Host", "Content-Length":
		return true
	}
	return false
}

// wsEnd is why a relay stops and how each side is closed.
type wsEnd struct {
	code   websocket.StatusCode
	reason string
	// from is the side whose read or write failed (nil for a decision of
	// Veil's own: block, binary, idle, shutdown); it is not closed again.
	from *websocket.Conn
}

// serveWebSocket terminates a WebSocket upgrade on both sides and relays
// messages one by one, scanning text messages in both directions.
//
// Handshake: Veil dials the upstream first, offering the client's
// subprotocols and forwarding its end-to-end headers (cookies,
// Authorization, Origin, User-Agent; not the handshake's own headers) plus
// X-Forwarded-For/-Host/-Proto, then accepts the client with the
// subprotocol the upstream chose and the upstream's Set-Cookie headers. The
// upstream does the origin check (it sees the client's Origin). An upstream
// that refuses the handshake has its status passed to the client with a
// JSON error; one that cannot be reached gives 502.
//
// Compression: permessage-deflate is negotiated per side, without context
// takeover (bounded memory per connection): offered upstream only when the
// client offered it, and accepted from the client only when the upstream
// agreed.
//
// Control frames: each side's pings are answered by Veil on that side
// (the library sends no control frame of a payload of our choosing, so
// pings cannot pass through as they are), and each ping also makes Veil
// ping the other side. A side that does not answer within ws_ping_timeout
// is lost: the relay ends as if its connection had dropped, so a peer that
// pings to find dead connections still finds them behind Veil.
// Close codes and reasons are passed to the other side as received; a side
// lost without a close frame closes the other with 1001 (client lost) or
// 1014 (upstream lost).
//
// Policy: a text message with a block finding closes both sides with 1008
// and the reason "blocked: TYPE" (never the value); a binary message on a
// route with websocket.binary other than pass closes both sides with 1003;
// a message over max_ws_message closes with 1009; a message that cannot be
// scanned (engine, divert or secure-form failure) closes with 1011. No
// idle traffic in either direction for ws_idle_timeout closes with 1001.
// Shutdown closes every connection with 1001.
func (p *Proxy) serveWebSocket(w http.ResponseWriter, r *http.Request, rt *route) {
	// The connection is one exchange: one request id, one Diverter.
	ex := &exchange{id: requestID(r), rt: rt, start: time.Now(), newDiverter: p.opts.NewDiverter}
	ex.log = p.log.With("request_id", ex.id)
	rawQuery := r.URL.RawQuery
	if rawQuery != "" {
		scanCtx := newScanContext(r.Context(), p.limits.ScanTimeout)
		q, _, err := p.scanQuery(scanCtx, ex, rawQuery)
		scanCtx.stop()
		if err != nil {
			p.refuse(w, ex, err, "request")
			return
		}
		rawQuery = q
	}
	target := p.wsTarget(r, rt, rawQuery)
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()

	ends := make(chan wsEnd, 4)

	mode := websocket.CompressionDisabled
	if hasExtension(r.Header, "permessage-deflate") {
		mode = websocket.CompressionNoContextTakeover
	}
	// The relay exists before either connection: their ping callbacks
	// refer to it (they run only once it reads).
	relay := &wsRelay{p: p, rt: rt, ctx: ctx, ends: ends, passBinary: rt.ws.Binary == "pass"}
	dialCtx, dialCancel := context.WithTimeout(r.Context(), p.limits.UpstreamTimeout)
	up, resp, err := websocket.Dial(dialCtx, target, &websocket.DialOptions{
		HTTPClient: &http.Client{
			Transport:     p.transport,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		HTTPHeader:      wsForwardHeaders(r, ex.id),
		Subprotocols:    headerTokens(r.Header, "Sec-Websocket-Protocol"),
		CompressionMode: mode,
		OnPingReceived: func(context.Context, []byte) bool {
			relay.pingOther(relay.client, &relay.pingingClient)
			return true
		},
	})
	dialCancel()
	if err != nil {
		p.wsRefused(w, resp, err, ex)
		return
	}
	if resp != nil && !hasExtension(resp.Header, "permessage-deflate") {
		mode = websocket.CompressionDisabled
	}
	if resp != nil {
		for _, c := range resp.Header.Values("Set-Cookie") {
			if name, _, _ := strings.Cut(c, "="); !rt.stripCookies[strings.TrimSpace(name)] {
				w.Header().Add("Set-Cookie", c)
			}
		}
	}
	var protos []string
	if sp := up.Subprotocol(); sp != "" {
		protos = []string{sp}
	}
	client, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:       protos,
		InsecureSkipVerify: true, // the upstream checks Origin: it receives the client's
		CompressionMode:    mode,
		OnPingReceived: func(context.Context, []byte) bool {
			relay.pingOther(relay.up, &relay.pingingUp)
			return true
		},
	})
	if err != nil {
		_ = up.Close(websocket.StatusGoingAway, "client handshake failed")
		return
	}
	p.obs.WebSocketConns(1)
	defer p.obs.WebSocketConns(-1)

	max := int64(p.limits.MaxWSMessage)
	client.SetReadLimit(max)
	up.SetReadLimit(max)

	env := &wsEnv{
		json:     rt.ws.Body != "text",
		skip:     rt.wsSkip,
		strict:   rt.wsStrict,
		secure:   p.opts.SecureCommand,
		diverter: ex.diverter(),
		thread:   &wsThread{},
		redact: func(ctx context.Context, direction string, text []byte, opts detectors.RedactOptions) ([]byte, []detectors.Finding, error) {
			return p.redactText(ctx, rt, direction, text, opts)
		},
	}
	relay.client, relay.up = client, up
	end := relay.run(ctx, env)
	ex.log.Info("websocket closed", "route", rt.label, "code", int(end.code), "duration", time.Since(ex.start))
}

// wsTarget is the upstream WebSocket URL for r, with the scanned query.
func (p *Proxy) wsTarget(r *http.Request, rt *route, rawQuery string) string {
	base := rt.upstream
	if base == nil {
		base = p.upstream
	}
	u := *base
	u.Path, u.RawPath = "", ""
	escaped := rt.outboundPath(r.URL.EscapedPath())
	joined := strings.TrimSuffix(base.EscapedPath(), "/") + escaped
	if unescaped, err := url.PathUnescape(joined); err == nil {
		u.Path, u.RawPath = unescaped, joined
	} else {
		u.Path = r.URL.Path
	}
	u.RawQuery = rawQuery
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	return u.String()
}

// wsForwardHeaders returns the client's end-to-end headers for the upstream
// handshake, with X-Forwarded-* set.
func wsForwardHeaders(r *http.Request, requestID string) http.Header {
	h := make(http.Header, len(r.Header)+3)
	skip := map[string]bool{}
	for _, c := range r.Header.Values("Connection") {
		for _, tok := range strings.Split(c, ",") {
			skip[http.CanonicalHeaderKey(strings.TrimSpace(tok))] = true
		}
	}
	for k, vs := range r.Header {
		ck := http.CanonicalHeaderKey(k)
		if wsHandshakeHeader(ck) || skip[ck] || strings.HasPrefix(ck, "X-Forwarded-") || ck == "Forwarded" {
			continue
		}
		h[ck] = append([]string(nil), vs...)
	}
	if ip := remoteIP(r.RemoteAddr); ip != "" {
		h.Set("X-Forwarded-For", ip)
	}
	h.Set("X-Forwarded-Host", r.Host)
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	h.Set("X-Forwarded-Proto", proto)
	h.Set("X-Request-Id", requestID)
	return h
}

// remoteIP is the host part of a RemoteAddr.
func remoteIP(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		addr = addr[:i]
	}
	return strings.Trim(addr, "[]")
}

// headerTokens splits the comma-separated values of key.
func headerTokens(h http.Header, key string) []string {
	var out []string
	for _, v := range h.Values(key) {
		for _, tok := range strings.Split(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				out = append(out, tok)
			}
		}
	}
	return out
}

// hasExtension reports whether Sec-WebSocket-Extensions offers or accepts
// the extension tok (with any parameters).
func hasExtension(h http.Header, tok string) bool {
	for _, t := range headerTokens(h, "Sec-Websocket-Extensions") {
		name, _, _ := strings.Cut(t, ";")
		if strings.EqualFold(strings.TrimSpace(name), tok) {
			return true
		}
	}
	return false
}

// wsRefused answers a client whose upstream handshake failed.
func (p *Proxy) wsRefused(w http.ResponseWriter, resp *http.Response, err error, ex *exchange) {
	if resp != nil && resp.StatusCode >= 400 && resp.StatusCode < 500 {
		// The upstream refused the client (auth, origin, not found): pass
		// its status on, with Veil's own body.
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Request-Id", ex.id)
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write([]byte(`{"error":"the upstream refused the WebSocket handshake","code":"upstream_refused"}` + "\n"))
		ex.log.Info("refused", "route", ex.rt.label, "direction", "request", "status", resp.StatusCode, "code", "upstream_refused")
		return
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = upstreamTimeoutError{}
	}
	p.refuse(w, ex, err, "request")
}

// wsRelay is one terminated WebSocket connection: client and upstream.
type wsRelay struct {
	p          *Proxy
	rt         *route
	ctx        context.Context // ends when the relay's handler returns
	client, up *websocket.Conn
	ends       chan wsEnd
	passBinary bool
	active     atomic.Int64 // unix nanoseconds of the last message

	pings                    sync.WaitGroup // pings Veil sent on its own
	pingingClient, pingingUp atomic.Bool    // one at a time per side
}

// run relays until one side ends, then closes both and waits.
func (r *wsRelay) run(ctx context.Context, env *wsEnv) wsEnd {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		r.pump(ctx, r.client, r.up, newWSScanner(env, "request"))
	}()
	go func() {
		defer wg.Done()
		r.pump(ctx, r.up, r.client, newWSScanner(env, "response"))
	}()
	stopIdle := r.idle()
	var end wsEnd
	select {
	case end = <-r.ends:
	case <-r.p.shuttingDown():
		end = wsEnd{code: websocket.StatusGoingAway, reason: "proxy shutting down"}
	}
	stopIdle()
	r.close(end)
	wg.Wait()
	r.pings.Wait() // closed connections end them
	return end
}

// pingOther pings c because its peer pinged Veil, unless a ping to c is
// under way. A ping c does not answer within ws_ping_timeout ends the
// relay as c's connection dropping would.
func (r *wsRelay) pingOther(c *websocket.Conn, busy *atomic.Bool) {
	if !busy.CompareAndSwap(false, true) {
		return
	}
	r.pings.Add(1)
	go func() {
		defer r.pings.Done()
		defer busy.Store(false)
		ctx, cancel := context.WithTimeout(r.ctx, r.p.limits.WSPingTimeout)
		defer cancel()
		if err := c.Ping(ctx); err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			r.send(r.readEnd(c, err))
		}
	}()
}

// idle closes the relay after ws_idle_timeout without a message.
func (r *wsRelay) idle() (stop func()) {
	d := r.p.limits.WSIdleTimeout
	if d <= 0 {
		return func() {}
	}
	r.active.Store(time.Now().UnixNano())
	var t *time.Timer
	var mu sync.Mutex
	stopped := false
	check := func() {}
	check = func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		left := d - time.Since(time.Unix(0, r.active.Load()))
		if left > 0 {
			t = time.AfterFunc(left, check)
			return
		}
		r.send(wsEnd{code: websocket.StatusGoingAway, reason: "idle timeout"})
	}
	mu.Lock()
	t = time.AfterFunc(d, check)
	mu.Unlock()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}

// send reports an end without blocking (the first one wins).
func (r *wsRelay) send(e wsEnd) {
	select {
	case r.ends <- e:
	default:
	}
}

// pump relays messages from src to dst until either fails or Veil ends the
// relay.
func (r *wsRelay) pump(ctx context.Context, src, dst *websocket.Conn, sc *wsScanner) {
	for {
		typ, msg, err := src.Read(ctx)
		if err != nil {
			r.send(r.readEnd(src, err))
			return
		}
		r.active.Store(time.Now().UnixNano())
		out := msg
		if typ == websocket.MessageBinary {
			if !r.passBinary {
				r.p.obs.Blocked(r.rt.label, sc.direction, "binary")
				r.send(wsEnd{code: websocket.StatusUnsupportedData, reason: "binary messages are not allowed"})
				return
			}
		} else {
			out, err = sc.scan(ctx, msg)
			if err != nil {
				r.send(r.scanEnd(sc.direction, err))
				return
			}
		}
		if err := dst.Write(ctx, typ, out); err != nil {
			r.send(r.readEnd(dst, err))
			return
		}
	}
}

// readEnd is the end caused by err on conn c.
func (r *wsRelay) readEnd(c *websocket.Conn, err error) wsEnd {
	var ce websocket.CloseError
	switch {
	case errors.As(err, &ce):
		return wsEnd{code: ce.Code, reason: ce.Reason, from: c}
	case errors.Is(err, websocket.ErrMessageTooBig):
		return wsEnd{code: websocket.StatusMessageTooBig, reason: "message too big", from: c}
	case c == r.client:
		return wsEnd{code: websocket.StatusGoingAway, reason: "client gone", from: c}
	default:
		return wsEnd{code: websocket.StatusBadGateway, reason: "upstream gone", from: c}
	}
}

// scanEnd is the end caused by a message Veil refuses.
func (r *wsRelay) scanEnd(direction string, err error) wsEnd {
	var blocked *blockedError
	if errors.As(err, &blocked) {
		return wsEnd{code: websocket.StatusPolicyViolation, reason: closeReason("blocked: " + strings.Join(blocked.Types, ", "))}
	}
	_, body := classify(err)
	r.p.log.Warn("websocket message could not be scanned", "route", r.rt.label, "direction", direction, "code", body.Code)
	return wsEnd{code: websocket.StatusInternalError, reason: "message could not be scanned"}
}

// closeReason bounds a close reason to the 123 bytes a close frame holds.
func closeReason(s string) string {
	if len(s) > 123 {
		s = s[:123]
	}
	return s
}

// close closes both sides for end: the side that failed is left alone (the
// library already answered its close frame), the other is closed with the
// mirrored or chosen code.
func (r *wsRelay) close(end wsEnd) {
	code, reason := end.code, end.reason
	switch code {
	case websocket.StatusNoStatusRcvd:
		code, reason = websocket.StatusNormalClosure, ""
	case websocket.StatusAbnormalClosure, websocket.StatusTLSHandshake:
		code = websocket.StatusGoingAway
	}
	var wg sync.WaitGroup
	for _, c := range []*websocket.Conn{r.client, r.up} {
		if c == end.from {
			_ = c.CloseNow()
			continue
		}
		wg.Add(1)
		go func(c *websocket.Conn) {
			defer wg.Done()
			_ = c.Close(code, reason)
		}(c)
	}
	wg.Wait()
}
