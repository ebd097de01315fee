package proxy

import (
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/veilproxy/veil/detectors"
)

// sseReadSize is how much of the upstream stream one read takes.
const sseReadSize = 32 << 10

// wrapSSE replaces the body of a text/event-stream response with one that
// scans and rewrites it event by event.
//
// Every event is re-emitted with its framing (id, event, retry, comments,
// line endings) in order. The route's sse.text path (or the raw data) is
// one continuous text per choice, scanned by a detectors stream: an event
// carries what the stream can release, text that could still become a
// match moves to a later event. When a choice finishes (an event with its
// finish_reason), and at [DONE], the end of the stream or a shutdown, the
// text held back is released in a final event shaped like the last event
// that carried text for that choice (same event name and JSON shape, no
// id), placed before the finishing event or [DONE]. Other string values,
// comments and data that is not JSON are scanned event by event; event
// names, ids and unknown fields pass as they are.
//
// A block finding, an event over max_sse_event, a scan error or a lost
// upstream ends the stream with
//
//	event: error
//	data: {"error":"...","code":"blocked","types":["card"]}
//
// (code blocked, event_too_large, scan_failed, scan_timeout, divert_failed
// or upstream_unavailable); nothing after it is sent.
func (p *Proxy) wrapSSE(resp *http.Response, rt *route) error {
	if rt.sse == nil || !rt.scan {
		return nil
	}
	if !sseDecodable(resp.Header.Get("Content-Encoding")) {
		return errUnsupportedEncoding
	}
	ctx := resp.Request.Context()
	// The stream shares the Diverter of its exchange: the request (the
	// prompt) and its event stream are one conversation.
	var div detectors.Diverter
	if ex := exchangeFrom(ctx); ex != nil {
		div = ex.diverter()
	} else if p.opts.NewDiverter != nil {
		if d := p.opts.NewDiverter(); d != nil {
			div = divertErrors{d}
		}
	}
	obs := p.obs
	env := sseEnv{
		engine: p.engine,
		opts:   detectors.RedactOptions{Diverter: div},
		text:   rt.sseText,
		skip:   rt.skip,
		redact: func(ctx context.Context, text []byte) ([]byte, error) {
			out, _, err := p.redactText(ctx, rt, "response", text, detectors.RedactOptions{Diverter: div})
			return out, err
		},
		found: func(f detectors.Finding) {
			obs.Found(f.Type, f.Action.String(), rt.label, "response")
		},
		scanned: func(d time.Duration) { obs.Scanned(rt.label, "response", d) },
		held:    obs.SSEHeld,
		blocked: func() { obs.Blocked(rt.label, "response", "detector") },
		timeout: p.limits.ScanTimeout,
	}
	max := int(p.limits.MaxSSEEvent)
	body := &sseBody{
		src:      resp.Body,
		encoding: strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))),
		rw:       newSSERewriter(ctx, env),
		parser:   sseParser{max: max},
		onError: func(code string) {
			level := slog.LevelWarn
			if code == "blocked" {
				level = slog.LevelInfo
			}
			p.log.Log(context.Background(), level, "event stream ended by veil", "route", rt.label, "code", code)
		},
	}
	body.closed = make(chan struct{})
	go func() {
		select {
		case <-p.shuttingDown():
			body.stop()
		case <-body.closed:
		}
	}()
	resp.Body = body
	resp.Header.Del("Content-Length")
	resp.Header.Del("Content-Encoding")
	resp.ContentLength = -1
	resp.Header.Set("X-Accel-Buffering", "no")
	return nil
}

// sseDecodable reports whether an event stream in encoding can be scanned.
func sseDecodable(encoding string) bool {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity", "gzip", "x-gzip", "deflate":
		return true
	}
	return false
}

// sseBody is the rewritten body of one event stream. The reverse proxy
// reads it and flushes after every read, so each event reaches the client
// as soon as it is scanned.
type sseBody struct {
	src      io.ReadCloser
	encoding string
	dec      io.Reader // src decoded; set on the first read
	rw       *sseRewriter
	parser   sseParser
	buf      []byte
	off      int  // of rw.out already read
	done     bool // no more events: rw.out is the rest of the body
	onError  func(code string)
	closed   chan struct{} // closed by Close
	stopping atomic.Bool
	once     sync.Once
}

// Read returns the next rewritten bytes, reading and scanning upstream
// events until some are ready.
func (b *sseBody) Read(p []byte) (int, error) {
	for b.off >= len(b.rw.out) {
		if b.done {
			return 0, io.EOF
		}
		b.rw.out, b.off = b.rw.out[:0], 0
		b.step()
	}
	n := copy(p, b.rw.out[b.off:])
	b.off += n
	return n, nil
}

// step reads once from upstream and scans what arrived.
func (b *sseBody) step() {
	if b.dec == nil {
		if err := b.decoder(); err != nil {
			b.fail(err)
			return
		}
	}
	if b.buf == nil {
		b.buf = make([]byte, sseReadSize)
	}
	n, err := b.dec.Read(b.buf)
	if n > 0 {
		if perr := b.parser.feed(b.buf[:n], b.rw.event); perr != nil {
			b.fail(perr)
			return
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, io.EOF) || b.stopping.Load():
		if ferr := b.parser.finish(b.rw.event); ferr != nil {
			b.fail(ferr)
			return
		}
		if ferr := b.rw.flush(); ferr != nil {
			b.fail(ferr)
			return
		}
		b.done = true
	default:
		b.fail(err)
	}
}

// decoder sets up decoding of a compressed event stream.
func (b *sseBody) decoder() error {
	switch b.encoding {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(b.src)
		if err != nil {
			return &bodyError{Kind: "gzip", Err: err}
		}
		b.dec = zr
	case "deflate":
		b.dec = flate.NewReader(b.src)
	default:
		b.dec = b.src
	}
	return nil
}

// fail ends the stream with an error event. Text held back is not released:
// the stream could not be scanned to its end.
func (b *sseBody) fail(err error) {
	if b.stopping.Load() && !errors.Is(err, errSSEEventTooLarge) {
		// A shutdown closed the upstream body under the read: end cleanly.
		b.done = true
		return
	}
	ev := sseErrorEvent(err)
	if b.onError != nil {
		b.onError(sseErrorCode(err))
	}
	b.rw.out = append(b.rw.out, ev...)
	b.done = true
	b.closeSrc()
}

// sseErrorCode is the code of the error event for err.
func sseErrorCode(err error) string {
	var blocked *blockedError
	switch {
	case errors.As(err, &blocked):
		return "blocked"
	case errors.Is(err, errSSEEventTooLarge):
		return "event_too_large"
	}
	_, body := classify(&responseError{Err: err})
	return body.Code
}

// stop ends the stream for a shutdown: the upstream body is closed, the
// read under way returns, the text held back is released and the stream
// ends after the last complete event.
func (b *sseBody) stop() {
	b.stopping.Store(true)
	b.closeSrc()
}

// closeSrc closes the upstream body; a read under way returns.
func (b *sseBody) closeSrc() { _ = b.src.Close() }

// Close closes the upstream body.
func (b *sseBody) Close() error {
	err := b.src.Close()
	b.once.Do(func() { close(b.closed) })
	return err
}
