package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/veilproxy/veil/detectors"
)

// smallTextBody is the size up to which a text response with a known length
// is buffered and scanned whole, so that a refusal can still be a clean JSON
// error; longer or unsized text responses stream.
const smallTextBody = 64 << 10

// scanResponse scans resp's body on ex's route. JSON, form and multipart
// bodies (and small text bodies) are read whole, up to max_body, and
// replaced; a refusal becomes a JSON error for the client. Other text bodies
// stream through the detectors' Stream: their headers are sent before the
// scan ends, so a failure mid-stream aborts the response
// (http.ErrAbortHandler) rather than let unscanned bytes through.
func (p *Proxy) scanResponse(ctx context.Context, ex *exchange, resp *http.Response) error {
	if resp.Body == nil || resp.Body == http.NoBody || resp.Request.Method == http.MethodHead ||
		resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified {
		return nil
	}
	ct := resp.Header.Get("Content-Type")
	kind := responseKind(ex.rt, ct)
	switch kind {
	case kindNone, kindStatic, kindBinary:
		return nil
	}
	enc, err := contentEncoding(resp.Header)
	if err != nil {
		return err
	}
	limit := int64(p.limits.MaxBody)
	if resp.ContentLength > limit {
		return errTooLarge
	}
	if kind == kindText && (resp.ContentLength < 0 || resp.ContentLength > smallTextBody) {
		return p.streamText(ctx, ex, resp, enc)
	}

	raw, err := readSized(resp.Body, resp.ContentLength, limit)
	resp.Body.Close()
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return err
		}
		return fmt.Errorf("reading upstream body: %w", err)
	}
	plain, err := decodeBody(raw, enc, limit)
	if err != nil {
		return err
	}
	out, changed, err := p.scanBody(ctx, ex, "response", kind, ct, plain)
	if err != nil {
		return err
	}
	if changed {
		if raw, err = encodeBody(out, enc); err != nil {
			return err
		}
		bodyChanged(resp.Header)
	}
	resp.Body = newByteBody(raw)
	var lenBuf [20]byte
	if cl := resp.Header["Content-Length"]; len(cl) != 1 || cl[0] != string(strconv.AppendInt(lenBuf[:0], int64(len(raw)), 10)) {
		resp.Header.Set("Content-Length", strconv.Itoa(len(raw)))
	}
	resp.ContentLength = int64(len(raw))
	resp.TransferEncoding = nil
	return nil
}

// responseKind decides how a response body is scanned. A route's body
// setting describes what its clients send; the upstream may answer in
// another format (an HTML error page on a JSON route). A response whose
// Content-Type disagrees with the route's json or form setting is scanned
// by its Content-Type, and as text when that would let it pass unscanned.
func responseKind(rt *route, ct string) bodyKind {
	kind := kindOf(rt, ct)
	if (rt.body != "json" && rt.body != "form") || mediaType(ct) == "" {
		return kind
	}
	switch byType := kindOf(&route{}, ct); byType {
	case kindJSON, kindForm, kindMultipart, kindText:
		return byType
	}
	return kindText
}

// streamText replaces resp's body with one that is scanned as it is read.
// The body is sent as identity: Content-Encoding and Content-Length go.
func (p *Proxy) streamText(ctx context.Context, ex *exchange, resp *http.Response, enc string) error {
	src := resp.Body
	var dec io.Reader = src
	if enc != "" {
		d, err := decoder(src, enc)
		if err != nil {
			return &bodyError{Kind: enc, Err: fmt.Errorf("%w: invalid header", errMalformed)}
		}
		dec = d
	}
	resp.Body = &scannedBody{
		ctx:    ctx,
		p:      p,
		rt:     ex.rt,
		src:    src,
		dec:    dec,
		stream: p.engine.NewStream(detectors.RedactOptions{Diverter: ex.diverter()}),
		buf:    p.buffers.Get(),
	}
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("Content-Length")
	resp.ContentLength = -1
	bodyChanged(resp.Header)
	return nil
}

// bodyChanged fixes the headers that describe the exact bytes of a body
// that Veil rewrote: digests go, and a strong ETag becomes weak.
func bodyChanged(h http.Header) {
	for _, k := range []string{"Content-Md5", "Digest", "Content-Digest", "Repr-Digest"} {
		h.Del(k)
	}
	if etag := h.Get("Etag"); etag != "" && !strings.HasPrefix(etag, "W/") {
		h.Set("Etag", "W/"+etag)
	}
}

// scannedBody is a response body masked as it streams. Any failure (a
// block finding, a scan error, a body over max_body, a corrupt encoding)
// is returned from Read, which makes the ReverseProxy abort the response.
type scannedBody struct {
	ctx    context.Context
	p      *Proxy
	rt     *route
	src    io.ReadCloser // the upstream body, for Close
	dec    io.Reader     // src decoded
	stream *detectors.Stream
	buf    []byte
	out    []byte // masked bytes not yet returned
	read   int64  // decoded bytes read, against max_body
	took   time.Duration
	eof    bool
	err    error
}

func (b *scannedBody) Read(dst []byte) (int, error) {
	for len(b.out) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		if b.eof {
			return 0, io.EOF
		}
		b.fill()
	}
	n := copy(dst, b.out)
	b.out = b.out[n:]
	return n, nil
}

// fill reads one chunk from upstream and scans it.
func (b *scannedBody) fill() {
	if b.buf == nil {
		b.fail(&responseError{Err: errors.New("read after close")})
		return
	}
	n, rerr := b.dec.Read(b.buf)
	if n > 0 {
		b.read += int64(n)
		if b.read > int64(b.p.limits.MaxBody) {
			b.fail(&responseError{Err: errTooLarge})
			return
		}
		b.scan(func(ctx context.Context) ([]byte, []detectors.Finding, error) {
			return b.stream.Write(ctx, b.buf[:n])
		})
	}
	switch {
	case b.err != nil:
	case errors.Is(rerr, io.EOF):
		b.scan(b.stream.Flush)
		b.eof = true
		b.p.obs.Scanned(b.rt.label, "response", b.took)
	case rerr != nil:
		b.fail(&responseError{Err: fmt.Errorf("reading upstream body: %w", rerr)})
	}
}

func (b *scannedBody) scan(step func(ctx context.Context) ([]byte, []detectors.Finding, error)) {
	ctx := newScanContext(b.ctx, b.p.limits.ScanTimeout)
	defer ctx.stop()
	start := time.Now()
	out, fs, err := step(ctx)
	b.took += time.Since(start)
	if err != nil {
		b.fail(&responseError{Err: scanFailure(err)})
		return
	}
	if err := b.p.observeFindings(b.rt, "response", fs); err != nil {
		b.fail(&responseError{Err: err})
		return
	}
	b.out = append(b.out, out...)
}

func (b *scannedBody) fail(err error) {
	b.err = err
	b.out = nil
}

func (b *scannedBody) Close() error {
	if b.buf != nil {
		b.p.buffers.Put(b.buf)
		b.buf = nil
	}
	return b.src.Close()
}
