package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"time"

	"go.uber.org/zap/zapcore"
)

// requestIDHeader carries the request id in both directions.
const requestIDHeader = "X-Request-Id"

// errLogConfig marks an unusable log: section.
var errLogConfig = errors.New("invalid log config")

// newLogger builds the process logger from the log: section: JSON lines by
// default, text when format is "text" or, with no format set, when w is a
// terminal. Every line written with a request's context carries its
// request_id.
func newLogger(cfg logConfig, w io.Writer, isTerminal bool) (*slog.Logger, error) {
	var level slog.Level
	switch cfg.Level {
	case "", "info":
		level = slog.LevelInfo
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, fmt.Errorf("%w: log.level: %q is not debug, info, warn or error", errLogConfig, cfg.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch cfg.Format {
	case "":
		if isTerminal {
			h = slog.NewTextHandler(w, opts)
		} else {
			h = slog.NewJSONHandler(w, opts)
		}
	case "json":
		h = slog.NewJSONHandler(w, opts)
	case "text":
		h = slog.NewTextHandler(w, opts)
	default:
		return nil, fmt.Errorf("%w: log.format: %q is not json or text", errLogConfig, cfg.Format)
	}
	return slog.New(contextHandler{h}), nil
}

// contextHandler adds the request id found in a record's context.
type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := requestIDFrom(ctx); ok {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}

type requestIDKey struct{}

// requestIDFrom returns the request id withRequestID put in ctx.
func requestIDFrom(ctx context.Context) (string, bool) {
	if ctx == nil {
		return "", false
	}
	s, ok := ctx.Value(requestIDKey{}).(*requestState)
	if !ok {
		return "", false
	}
	return s.id, true
}

// requestState travels in a request's context: its id, and the route label
// a handler further in may set for the access log.
type requestState struct {
	id    string
	route string
}

// setRouteLabel names the route a request matched, for the access log. The
// label must come from config (a route's path pattern), never from the
// request URL.
func setRouteLabel(ctx context.Context, label string) {
	if s, ok := ctx.Value(requestIDKey{}).(*requestState); ok {
		s.route = label
	}
}

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// validRequestID accepts an inbound id only when it is short and made of
// characters that cannot carry anything but an identifier.
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// withRequestID gives every request an id (the inbound X-Request-Id when it
// is well formed, a new one otherwise), sets it on the request (so the
// upstream sees it) and on the response, puts it in the request context for
// log lines, and writes one access log line per request: method, route
// label, status, duration and response bytes. The URL, query, headers and
// body are never logged; the route label is the one set with setRouteLabel,
// else the http.ServeMux pattern that matched, else "unmatched".
func withRequestID(next http.Handler, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(requestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		r.Header.Set(requestIDHeader, id)
		w.Header().Set(requestIDHeader, id)
		st := &requestState{id: id}
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, st))
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			route := st.route
			if route == "" {
				route = r.Pattern
			}
			if route == "" {
				route = "unmatched"
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
				if rec.hijacked {
					status = http.StatusSwitchingProtocols
				}
			}
			logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", methodLabel(r.Method)),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Duration("duration", time.Since(start)),
				slog.Int64("bytes", rec.bytes),
			)
		}()
		next.ServeHTTP(rec, r)
	})
}

// methodLabel keeps standard methods and folds anything else.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// statusRecorder notes the status and size of a response. It passes
// flushes and hijacks through (SSE and WebSocket) and unwraps for
// http.ResponseController.
type statusRecorder struct {
	http.ResponseWriter
	status   int
	bytes    int64
	hijacked bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(p)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) Flush() {
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

// FlushError flushes and reports a failure.
func (s *statusRecorder) FlushError() error {
	return http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err == nil {
		s.hijacked = true
	}
	return c, rw, err
}

// Unwrap returns the wrapped writer for http.ResponseController.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// slogCore is a zapcore.Core writing to a slog.Handler, so libraries that
// log with zap (certmagic) end up in Veil's log.
type slogCore struct {
	h      slog.Handler
	fields []zapcore.Field
}

func newSlogCore(h slog.Handler) zapcore.Core { return &slogCore{h: h} }

func zapLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (c *slogCore) Enabled(l zapcore.Level) bool {
	return c.h.Enabled(context.Background(), zapLevel(l))
}

func (c *slogCore) With(fs []zapcore.Field) zapcore.Core {
	return &slogCore{h: c.h, fields: append(slices.Clip(c.fields), fs...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fs {
		f.AddTo(enc)
	}
	r := slog.NewRecord(e.Time, zapLevel(e.Level), e.Message, 0)
	if e.LoggerName != "" {
		r.AddAttrs(slog.String("logger", e.LoggerName))
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.AddAttrs(slog.Any(k, enc.Fields[k]))
	}
	return c.h.Handle(context.Background(), r)
}

func (c *slogCore) Sync() error { return nil }
