package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/veilproxy/veil/detectors"
)

// Options are the proxy's collaborators.
type Options struct {
	// Engine scans every message. Required.
	Engine *detectors.Engine
	// NewDiverter returns the Diverter for one conversation (a WebSocket
	// connection, an SSE stream, an HTTP request and its response). Nil:
	// divert findings are masked.
	NewDiverter func() detectors.Diverter
	// SecureCommand answers a "/secure NAME" message with the invitation
	// text that replaces it; ok is false for an unknown form. Nil: off.
	SecureCommand func(ctx context.Context, form string) (invitation string, ok bool, err error)
	// Observer receives metrics. Nil: none.
	Observer Observer
	// Logger receives one line per request and one per refusal, never a
	// body, URL query, header value or found value. Nil: discard.
	Logger *slog.Logger
	// Transport reaches the upstream. Nil: a clone of
	// http.DefaultTransport (TLS verified) with the configured timeouts,
	// enough idle connections per host for a busy sidecar, and no
	// compression of its own (see New).
	Transport http.RoundTripper
}

// Observer receives the proxy's metrics. Route labels are the route's
// Match.Path as configured ("unmatched" otherwise), never a request URL.
// Implementations must be safe for concurrent use.
type Observer interface {
	Scanned(route, direction string, d time.Duration) // direction: "request" | "response"
	Found(typ, action, route, direction string)
	Blocked(route, direction, reason string)
	SSEHeld(d time.Duration)
	WebSocketConns(delta int)
}

type nopObserver struct{}

func (nopObserver) Scanned(string, string, time.Duration) {}
func (nopObserver) Found(string, string, string, string)  {}
func (nopObserver) Blocked(string, string, string)        {}
func (nopObserver) SSEHeld(time.Duration)                 {}
func (nopObserver) WebSocketConns(int)                    {}

// Default limits, used where the config leaves a limit at zero.
const (
	DefaultMaxBody         = 10 << 20
	DefaultMaxWSMessage    = 1 << 20
	DefaultMaxSSEEvent     = 1 << 20
	DefaultMaxStreams      = 10000
	DefaultUpstreamTimeout = 30 * time.Second
	DefaultScanTimeout     = 5 * time.Second
	DefaultWSIdleTimeout   = 10 * time.Minute
	DefaultWSPingTimeout   = 30 * time.Second
)

// NewServer returns the http.Server a public listener runs h with:
// timeouts for reading request headers and for idle keep-alive
// connections bound what a slow or silent client holds, and errLog (nil:
// the standard logger) gets the server's own errors.
func NewServer(h http.Handler, errLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          errLog,
	}
}

// Proxy is Veil's reverse proxy, an http.Handler. It is safe for concurrent
// use; its configuration is fixed at New.
//
// How HTTP bodies are handled:
//   - Request bodies are read whole, up to max_body (413 beyond), on every
//     route, scanned on scanned routes, and forwarded from that buffer: a
//     block finding anywhere refuses the whole request before any of it is
//     forwarded, and the transport owns its body (golang/go#40747). Query
//     values are scanned like form values.
//   - Response bodies in JSON, form or multipart, and text bodies of known
//     length up to 64 KiB, are read whole (up to max_body) so a refusal is
//     still a JSON error. Longer or unsized text streams through the
//     detectors' Stream; a failure mid-stream aborts the response
//     (http.ErrAbortHandler). text/event-stream goes to the SSE rewriter.
//   - gzip and deflate are decoded before scanning. A changed request is
//     forwarded as identity; a changed buffered response is re-encoded as
//     the upstream sent it; a streamed text response is sent as identity.
//     Unchanged bodies keep their original bytes and headers.
//   - JavaScript, CSS, images and fonts pass unscanned unless the route sets
//     body; other binary request bodies and multipart file parts follow
//     files (block by default: 403).
//   - max_streams bounds every request in flight, WebSocket connections and
//     event streams included (503 beyond). upstream_timeout bounds the time
//     to the upstream's response headers (504); response_header_timeout
//     sets the default transport's ResponseHeaderTimeout.
type Proxy struct {
	opts      Options
	engine    *detectors.Engine
	log       *slog.Logger
	obs       Observer
	limits    Limits // with defaults filled in
	upstream  *url.URL
	routes    []*route
	unmatched *route
	rp        *httputil.ReverseProxy
	transport http.RoundTripper
	ownsTrans bool

	mu       sync.Mutex
	active   int           // requests and streams in flight
	idle     chan struct{} // closed when active drops to 0 after Shutdown
	closing  bool
	shutdown chan struct{} // closed when Shutdown starts

	idPrefix string // random, per Proxy
	idSeq    atomic.Uint64
	buffers  *bufferPool // 32 KiB copy buffers
}

// New validates cfg, compiles its routes and returns a ready Proxy.
func New(cfg Config, opts Options) (*Proxy, error) {
	if opts.Engine == nil {
		return nil, errors.New("proxy: options: engine is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Proxy{
		opts:     opts,
		engine:   opts.Engine,
		log:      opts.Logger,
		obs:      opts.Observer,
		limits:   cfg.Limits.withDefaults(),
		shutdown: make(chan struct{}),
		idPrefix: rand.Text()[:12] + "-",
		buffers:  &bufferPool{},
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.obs == nil {
		p.obs = nopObserver{}
	}
	var err error
	if p.upstream, err = parseUpstream(cfg.Upstream); err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	defaultWS := &WebSocketRoute{}
	for i, rc := range cfg.Routes {
		rt, err := compileRoute(rc, defaultWS)
		if err != nil {
			return nil, fmt.Errorf("%sroute %d: %w", rc.Pos.At(""), i+1, err)
		}
		p.routes = append(p.routes, rt)
	}
	p.unmatched = unmatchedRoute()

	p.transport = opts.Transport
	if p.transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = 1024
		t.MaxIdleConnsPerHost = 256
		t.ResponseHeaderTimeout = p.limits.ResponseTimeout
		// The client's Accept-Encoding (narrowed by rewrite to what the
		// scanner decodes) is what the upstream sees, as behind any other
		// proxy. Left on, the transport would ask for gzip whenever the
		// client asked for nothing and inflate the answer itself: work
		// no one asked for, on every response of such clients.
		t.DisableCompression = true
		p.transport = t
		p.ownsTrans = true
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      p.transport,
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.handleError,
		BufferPool:     p.buffers,
		// The library's own messages may hold URLs: keep them out of the logs.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	return p, nil
}

// bufferPool recycles the ReverseProxy's copy buffers: without it every
// response allocates 32 KiB.
type bufferPool struct{ pool sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.pool.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.pool.Put(&buf) }

// withDefaults fills zero limits with the defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxBody == 0 {
		l.MaxBody = DefaultMaxBody
	}
	if l.MaxWSMessage == 0 {
		l.MaxWSMessage = DefaultMaxWSMessage
	}
	if l.MaxSSEEvent == 0 {
		l.MaxSSEEvent = DefaultMaxSSEEvent
	}
	if l.MaxStreams == 0 {
		l.MaxStreams = DefaultMaxStreams
	}
	if l.UpstreamTimeout == 0 {
		l.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if l.ScanTimeout == 0 {
		l.ScanTimeout = DefaultScanTimeout
	}
	if l.WSIdleTimeout == 0 {
		l.WSIdleTimeout = DefaultWSIdleTimeout
	}
	if l.WSPingTimeout == 0 {
		l.WSPingTimeout = DefaultWSPingTimeout
	}
	return l
}

// exchange is the state of one proxied request and its response.
type exchange struct {
	id      string
	rt      *route
	log     *slog.Logger // nil until first used: see logger
	baseLog *slog.Logger
	start   time.Time
	sw      statusWriter // the client's ResponseWriter, for ServeHTTP

	body          []byte // request body to forward; used when bodySet
	bodySet       bool
	stripEncoding bool   // body is identity now: drop Content-Encoding
	rawQuery      string // scanned query; used when querySet
	querySet      bool

	newDiverter func() detectors.Diverter
	divOnce     sync.Once
	div         detectors.Diverter

	timer *time.Timer // the upstream timeout, stopped once headers arrive
}

// logger returns the exchange's logger, which names its request id. It is
// made on first use: most requests log nothing when the level is above
// Info.
func (ex *exchange) logger() *slog.Logger {
	if ex.log == nil {
		ex.log = ex.baseLog.With("request_id", ex.id)
	}
	return ex.log
}

// diverter returns the Diverter to scan the exchange with: nil when the
// proxy has none (divert findings are masked), otherwise one that asks
// NewDiverter for the exchange's Diverter on the first divert finding.
func (ex *exchange) diverter() detectors.Diverter {
	if ex.newDiverter == nil {
		return nil
	}
	return lazyDiverter{ex}
}

// divertErrors marks a Diverter's failures as *divertError so the error
// mapper can tell them from engine failures.
type divertErrors struct{ d detectors.Diverter }

func (d divertErrors) Divert(ctx context.Context, f detectors.Finding, value []byte) (string, error) {
	s, err := d.d.Divert(ctx, f, value)
	if err != nil {
		return "", &divertError{Err: err}
	}
	return s, nil
}

// lazyDiverter creates the exchange's Diverter on first use and marks its
// failures as *divertError so the error mapper can tell them from engine
// failures.
type lazyDiverter struct{ ex *exchange }

func (l lazyDiverter) Divert(ctx context.Context, f detectors.Finding, value []byte) (string, error) {
	ex := l.ex
	ex.divOnce.Do(func() { ex.div = ex.newDiverter() })
	if ex.div == nil {
		return "", &divertError{Err: errors.New("no diverter")}
	}
	return divertErrors{ex.div}.Divert(ctx, f, value)
}

type exchangeKey struct{}

func exchangeFrom(ctx context.Context) *exchange {
	ex, _ := ctx.Value(exchangeKey{}).(*exchange)
	return ex
}

// ServeHTTP proxies r to the upstream, scanning its body on the way up and
// the response on the way down.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex := &exchange{
		id:          p.requestID(r),
		rt:          p.match(r),
		baseLog:     p.log,
		start:       time.Now(),
		newDiverter: p.opts.NewDiverter,
	}
	if err := p.acquire(); err != nil {
		p.refuse(w, ex, err, "request")
		return
	}
	defer p.release()

	rt := ex.rt
	if rt.blocked {
		p.refuse(w, ex, &policyError{Reason: "endpoint"}, "request")
		return
	}
	if rt.scan && headerHasToken(r.Header, "Connection", "upgrade") {
		if rt.ws != nil && isWebSocketUpgrade(r) {
			p.serveWebSocket(w, r, rt)
			return
		}
		p.refuse(w, ex, errUpgradeRefused, "request")
		return
	}

	ctx, cancel := context.WithCancelCause(context.WithValue(r.Context(), exchangeKey{}, ex))
	defer cancel(nil)
	if err := p.prepareRequest(ctx, ex, r); err != nil {
		p.refuse(w, ex, err, "request")
		return
	}
	ex.timer = time.AfterFunc(p.limits.UpstreamTimeout, func() { cancel(upstreamTimeoutError{}) })
	defer ex.timer.Stop()

	out := r.WithContext(ctx)
	if ex.bodySet {
		// Never r.Body (golang/go#40747): rewrite gives the outbound
		// request a reader of ex.body. The library wraps whatever body it
		// is handed here, which would cost the transport its one-write path
		// for in-memory bodies; and should rewrite not run, the transport
		// refuses a body shorter than its ContentLength rather than send
		// anything unscanned.
		out.Body = http.NoBody
		out.ContentLength = int64(len(ex.body))
	}
	sw := &ex.sw
	sw.ResponseWriter = w
	p.rp.ServeHTTP(sw, out)
	if p.log.Enabled(ctx, slog.LevelInfo) {
		ex.logger().Info("proxied", "method", r.Method, "route", rt.label, "status", sw.status,
			"duration", time.Since(ex.start))
	}
}

// newOutBody returns a reader of the request body to forward. It is an
// io.NopCloser of a *bytes.Reader on purpose: the transport recognises that
// pair as in-memory and sends the headers and a small body in one write,
// where any other type costs a second write system call.
func (ex *exchange) newOutBody() io.ReadCloser {
	return io.NopCloser(bytes.NewReader(ex.body))
}

// byteBody is a response body read from memory; Close does nothing. One
// allocation, where io.NopCloser(bytes.NewReader(b)) is two. Not for
// request bodies: see exchange.newOutBody.
type byteBody struct{ bytes.Reader }

func newByteBody(b []byte) *byteBody {
	body := &byteBody{}
	body.Reset(b)
	return body
}

// Close does nothing: the bytes stay readable.
func (*byteBody) Close() error { return nil }

// isWebSocketUpgrade reports whether r asks to switch to WebSocket.
func isWebSocketUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Upgrade", "websocket")
}

// headerHasToken reports whether the comma-separated header name holds
// token, case-insensitively.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// match returns the first route matching r, or the unmatched route.
func (p *Proxy) match(r *http.Request) *route {
	cleaned := cleanPath(r.URL.Path)
	for _, rt := range p.routes {
		if rt.matches(r, cleaned) {
			return rt
		}
	}
	return p.unmatched
}

// prepareRequest reads and scans the request body and query on scanned
// routes, and buffers the body on the others, so that the transport always
// gets a body of its own.
func (p *Proxy) prepareRequest(ctx context.Context, ex *exchange, r *http.Request) error {
	if ex.rt.scan && r.URL.RawQuery != "" {
		scanCtx := newScanContext(ctx, p.limits.ScanTimeout)
		q, changed, err := p.scanQuery(scanCtx, ex, r.URL.RawQuery)
		scanCtx.stop()
		if err != nil {
			return err
		}
		if changed {
			ex.rawQuery, ex.querySet = q, true
		}
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil
	}
	return p.prepareRequestBody(ctx, ex, r)
}

// rewrite builds the outbound request: upstream, path prefixes, forwarding
// headers, request id and the scanned body.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	ex := exchangeFrom(pr.In.Context())
	rt := ex.rt
	target := p.upstream
	if rt.upstream != nil {
		target = rt.upstream
	}
	if rt.stripPrefix != "" || rt.addPrefix != "" {
		escaped := rt.outboundPath(pr.Out.URL.EscapedPath())
		if unescaped, err := url.PathUnescape(escaped); err == nil {
			pr.Out.URL.Path = unescaped
			pr.Out.URL.RawPath = escaped
		}
	}
	if ex.querySet {
		pr.Out.URL.RawQuery = ex.rawQuery
	}
	pr.SetURL(target)
	pr.SetXForwarded()
	pr.Out.Header.Set("X-Request-Id", ex.id)
	if ex.bodySet {
		body := ex.body
		pr.Out.ContentLength = int64(len(body))
		pr.Out.TransferEncoding = nil
		delete(pr.Out.Header, "Content-Length")
		if len(body) == 0 {
			pr.Out.Body = nil
		} else {
			pr.Out.Body = ex.newOutBody()
			pr.Out.GetBody = func() (io.ReadCloser, error) {
				return ex.newOutBody(), nil
			}
		}
		if ex.stripEncoding {
			delete(pr.Out.Header, "Content-Encoding")
		}
	}
	if rt.scan {
		// Ask only for encodings the response scanner can decode.
		if ae := acceptEncoding(pr.In.Header["Accept-Encoding"]); ae != "" {
			if v := pr.Out.Header["Accept-Encoding"]; len(v) != 1 || v[0] != ae {
				pr.Out.Header["Accept-Encoding"] = []string{ae}
			}
		} else {
			delete(pr.Out.Header, "Accept-Encoding")
		}
	}
}

// acceptEncoding keeps gzip and deflate from the client's Accept-Encoding.
func acceptEncoding(values []string) string {
	if len(values) == 1 {
		switch values[0] {
		case "gzip", "deflate", "gzip, deflate", "":
			return values[0] // the common cases, kept as they are
		}
	}
	var keep []string
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), ";")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "gzip", "deflate":
				keep = append(keep, strings.TrimSpace(part))
			}
		}
	}
	return strings.Join(keep, ", ")
}

// modifyResponse applies response policies and wraps or scans the body.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	ex := exchangeFrom(resp.Request.Context())
	if ex.timer != nil {
		ex.timer.Stop()
	}
	rt := ex.rt
	resp.Header.Set("X-Request-Id", ex.id)
	stripResponseHeaders(resp.Header, rt)
	if !rt.scan || resp.StatusCode == http.StatusSwitchingProtocols {
		return nil
	}
	if mediaType(resp.Header.Get("Content-Type")) == "text/event-stream" {
		if rt.sse == nil {
			return nil
		}
		if err := p.wrapSSE(resp, rt); err != nil {
			return &responseError{Err: err}
		}
		return nil
	}
	if err := p.scanResponse(resp.Request.Context(), ex, resp); err != nil {
		return &responseError{Err: err}
	}
	return nil
}

// stripResponseHeaders removes the headers and cookies the route lists.
func stripResponseHeaders(h http.Header, rt *route) {
	for _, name := range rt.stripHeaders {
		h.Del(name)
	}
	if len(rt.stripCookies) == 0 {
		return
	}
	cookies := h.Values("Set-Cookie")
	if len(cookies) == 0 {
		return
	}
	kept := cookies[:0:0]
	for _, c := range cookies {
		name, _, _ := strings.Cut(c, "=")
		if !rt.stripCookies[strings.TrimSpace(name)] {
			kept = append(kept, c)
		}
	}
	h.Del("Set-Cookie")
	for _, c := range kept {
		h.Add("Set-Cookie", c)
	}
}

// handleError is the ReverseProxy's error handler: upstream failures and
// refused responses.
func (p *Proxy) handleError(w http.ResponseWriter, r *http.Request, err error) {
	ex := exchangeFrom(r.Context())
	var to upstreamTimeoutError
	if cause := context.Cause(r.Context()); errors.As(cause, &to) {
		err = cause
	}
	direction := "request"
	var re *responseError
	if errors.As(err, &re) {
		direction = "response"
	}
	p.refuse(w, ex, err, direction)
}

// refuse answers with the error's status and JSON body, counts policy and
// detector blocks, and logs the refusal by code only.
func (p *Proxy) refuse(w http.ResponseWriter, ex *exchange, err error, direction string) {
	var policy *policyError
	if errors.As(err, &policy) {
		p.obs.Blocked(ex.rt.label, direction, policy.Reason)
	}
	status, code := writeError(w, err, ex.id)
	level := slog.LevelWarn
	if status == 0 || status == http.StatusUnprocessableEntity || status == http.StatusForbidden {
		level = slog.LevelInfo
	}
	ex.logger().Log(context.Background(), level, "refused", "route", ex.rt.label, "direction", direction,
		"status", status, "code", code, "duration", time.Since(ex.start))
}

// redactText scans one text on behalf of rt, reports scan time and findings
// to the Observer, and returns the masked text. When a finding's action is
// block it returns a *blockedError naming the types found. Engine failures
// come back as *scanError and Diverter failures as *divertError; their
// messages may hold input fragments, so callers must not log them (the
// error mapper never shows them). Without a deadline on ctx the scan gets
// the configured scan_timeout.
func (p *Proxy) redactText(ctx context.Context, rt *route, direction string, text []byte, opts detectors.RedactOptions) ([]byte, []detectors.Finding, error) {
	if _, ok := ctx.Deadline(); !ok {
		scanCtx := newScanContext(ctx, p.limits.ScanTimeout)
		defer scanCtx.stop()
		ctx = scanCtx
	}
	start := time.Now()
	out, fs, err := p.engine.Redact(ctx, text, opts)
	p.obs.Scanned(rt.label, direction, time.Since(start))
	if err != nil {
		return nil, nil, scanFailure(err)
	}
	return out, fs, p.observeFindings(rt, direction, fs)
}

// redactValue scans one value of a larger message (a JSON field, a form
// value, a text body) like redactText, except that scan time is reported
// once for the whole message by the caller.
func (p *Proxy) redactValue(ctx context.Context, rt *route, direction string, text []byte, opts detectors.RedactOptions) ([]byte, []detectors.Finding, error) {
	out, fs, err := p.engine.Redact(ctx, text, opts)
	if err != nil {
		return nil, nil, scanFailure(err)
	}
	return out, fs, p.observeFindings(rt, direction, fs)
}

// observeFindings counts findings and returns a *blockedError when one of
// them blocks.
func (p *Proxy) observeFindings(rt *route, direction string, fs []detectors.Finding) error {
	if len(fs) == 0 {
		return nil
	}
	var types []string
	for _, f := range fs {
		p.obs.Found(f.Type, f.Action.String(), rt.label, direction)
		if f.Action == detectors.ActionBlock && !hasString(types, f.Type) {
			types = append(types, f.Type)
		}
	}
	if types == nil {
		return nil
	}
	p.obs.Blocked(rt.label, direction, "detector")
	return &blockedError{Types: types}
}

// scanFailure wraps an engine error, keeping Diverter failures recognisable.
func scanFailure(err error) error {
	var de *divertError
	if errors.As(err, &de) {
		return de
	}
	return &scanError{Err: err}
}

func hasString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// acquire counts a request or stream in flight, refusing it when the limit
// is reached or the proxy is shutting down.
func (p *Proxy) acquire() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return errShuttingDown
	}
	if p.active >= p.limits.MaxStreams {
		return errTooManyStreams
	}
	p.active++
	return nil
}

func (p *Proxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.active--
	if p.active == 0 && p.idle != nil {
		close(p.idle)
		p.idle = nil
	}
}

// shuttingDown is closed when Shutdown starts: WebSocket relays close with
// 1001 and SSE streams end cleanly when it is.
func (p *Proxy) shuttingDown() <-chan struct{} { return p.shutdown }

// Shutdown refuses new requests (503), tells open WebSocket and SSE streams
// to end, and waits until every request and stream has finished or ctx is
// done.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if !p.closing {
		p.closing = true
		close(p.shutdown)
	}
	var idle chan struct{}
	if p.active > 0 {
		if p.idle == nil {
			p.idle = make(chan struct{})
		}
		idle = p.idle
	}
	p.mu.Unlock()
	if p.ownsTrans {
		defer p.transport.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	}
	if idle == nil {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("proxy shutdown: %w", ctx.Err())
	}
}

// requestID returns the inbound X-Request-Id when it is a plain token, or a
// new random one.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 128 && isToken(id) {
		return id
	}
	return rand.Text()
}

// requestID is like the function requestID, except that a new id is the
// proxy's random prefix and a sequence number: the proxy's random prefix and a sequence number, unique without
// a system call per request.
func (p *Proxy) requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 128 && isToken(id) {
		return id
	}
	var buf [64]byte
	return string(strconv.AppendUint(append(buf[:0], p.idPrefix...), p.idSeq.Add(1), 36))
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// statusWriter records the status written, for the access log. It unwraps
// for http.ResponseController (flush, hijack, deadlines).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends buffered data to the client.
func (w *statusWriter) Flush() {
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// FlushError sends buffered data to the client and reports failures.
func (w *statusWriter) FlushError() error {
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the underlying ResponseWriter.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
