package proxy

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/veilproxy/veil/detectors"
)

// bodyKind says how a body is scanned.
type bodyKind int

const (
	kindNone      bodyKind = iota // not scanned: body: none, or an empty body
	kindStatic                    // JavaScript, CSS, images, fonts: pass unscanned
	kindBinary                    // other binary content: a file (request) or passed (response)
	kindJSON                      // every string and number literal
	kindForm                      // application/x-www-form-urlencoded values
	kindMultipart                 // multipart text parts; file parts by route policy
	kindText                      // the whole body as text
)

func (k bodyKind) String() string {
	return [...]string{"none", "static", "binary", "json", "form", "multipart", "text"}[k]
}

// mediaType returns the lower-case media type of a Content-Type value,
// without parameters.
func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// kindOf decides how a body with Content-Type ct is scanned on rt. A route's
// explicit body setting wins over the Content-Type (a route that says
// body: text scans even a JavaScript response); otherwise the Content-Type
// decides, and a missing one is scanned as text.
func kindOf(rt *route, ct string) bodyKind {
	mt := mediaType(ct)
	switch rt.body {
	case "none":
		return kindNone
	case "json":
		return kindJSON
	case "text":
		return kindText
	case "form":
		if strings.HasPrefix(mt, "multipart/") {
			return kindMultipart
		}
		return kindForm
	}
	major, sub, _ := strings.Cut(mt, "/")
	switch {
	case mt == "":
		return kindText
	case sub == "x-ndjson" || sub == "ndjson" || sub == "jsonl" || sub == "json-seq":
		// Line-delimited JSON streams are scanned as text, so that they can
		// stream and a value split across lines is still caught.
		return kindText
	case sub == "json" || strings.HasSuffix(sub, "+json"):
		return kindJSON
	case mt == "application/x-www-form-urlencoded":
		return kindForm
	case major == "multipart":
		return kindMultipart
	case mt == "text/css" || mt == "text/javascript" || mt == "application/javascript" ||
		mt == "application/x-javascript" || mt == "application/ecmascript" || mt == "text/ecmascript" ||
		mt == "application/wasm" || major == "image" || major == "font" ||
		strings.HasPrefix(sub, "font-") || strings.HasPrefix(sub, "x-font-") || sub == "vnd.ms-fontobject":
		return kindStatic
	case major == "text":
		return kindText
	case major == "application" && (sub == "xml" || strings.HasSuffix(sub, "+xml") || sub == "graphql" ||
		sub == "x-yaml" || sub == "yaml" || sub == "csv" || sub == "x-www-form-urlencoded"):
		return kindText
	}
	return kindBinary
}

// contentEncoding returns the body's single content coding ("" for
// identity) or errUnsupportedEncoding.
func contentEncoding(h http.Header) (string, error) {
	vs := h.Values("Content-Encoding")
	enc := ""
	for _, v := range vs {
		for _, part := range strings.Split(v, ",") {
			part = strings.ToLower(strings.TrimSpace(part))
			if part == "" || part == "identity" {
				continue
			}
			if enc != "" {
				return "", errUnsupportedEncoding
			}
			enc = part
		}
	}
	switch enc {
	case "", "gzip", "deflate":
		return enc, nil
	case "x-gzip":
		return "gzip", nil
	}
	return "", errUnsupportedEncoding
}

// decodeBody undoes enc, reading at most limit decoded bytes.
func decodeBody(raw []byte, enc string, limit int64) ([]byte, error) {
	if enc == "" {
		return raw, nil
	}
	r, err := decoder(bytes.NewReader(raw), enc)
	if err != nil {
		return nil, &bodyError{Kind: enc, Err: fmt.Errorf("%w: invalid header", errMalformed)}
	}
	defer r.Close()
	out, err := readLimited(r, limit)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, err
		}
		return nil, &bodyError{Kind: enc, Err: fmt.Errorf("%w: corrupt data", errMalformed)}
	}
	return out, nil
}

// decoder returns a reader that undoes enc. Deflate is zlib-wrapped as the
// RFC says; a raw deflate stream (sent by some servers) is accepted too.
func decoder(r io.Reader, enc string) (io.ReadCloser, error) {
	switch enc {
	case "gzip":
		return gzip.NewReader(r)
	case "deflate":
		br := bufio.NewReader(r)
		head, _ := br.Peek(2)
		if len(head) == 2 && head[0]&0x0f == 8 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
			return zlib.NewReader(br)
		}
		return flate.NewReader(br), nil
	}
	return io.NopCloser(r), nil
}

// encodeBody applies enc to b.
func encodeBody(b []byte, enc string) ([]byte, error) {
	var buf bytes.Buffer
	var w io.WriteCloser
	switch enc {
	case "":
		return b, nil
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	default:
		return nil, errUnsupportedEncoding
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// readLimited reads r to the end, failing with errTooLarge past limit bytes.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	return readSized(r, -1, limit)
}

// readSized is readLimited for a body whose announced length is size (-1:
// unknown): one buffer of the right size, where io.ReadAll starts small
// and grows. It never reads more than limit+1 bytes from r.
func readSized(r io.Reader, size, limit int64) ([]byte, error) {
	n := int64(512)
	if size >= 0 && size < limit {
		n = size + 1 // room for the read that reports EOF
	}
	b := make([]byte, 0, n)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow
		}
		end := int64(cap(b))
		if end > limit+1 {
			end = limit + 1
		}
		m, err := r.Read(b[len(b):end])
		b = b[:len(b)+m]
		if int64(len(b)) > limit {
			return nil, errTooLarge
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// prepareRequestBody reads the whole request body (up to max_body), scans it
// on a scanned route and stores the bytes to forward in ex. Requests are
// buffered, never streamed: a block finding anywhere must refuse the whole
// request before any of it is forwarded, and the transport must own its
// body (golang/go#40747).
func (p *Proxy) prepareRequestBody(ctx context.Context, ex *exchange, r *http.Request) error {
	limit := int64(p.limits.MaxBody)
	if r.ContentLength > limit {
		return errTooLarge
	}
	raw, err := readSized(r.Body, r.ContentLength, limit)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return err
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return &bodyError{Kind: "request", Err: fmt.Errorf("%w: body cut short", errMalformed)}
	}
	ex.body, ex.bodySet = raw, true
	if !ex.rt.scan || len(raw) == 0 {
		return nil
	}
	kind := kindOf(ex.rt, r.Header.Get("Content-Type"))
	switch kind {
	case kindNone, kindStatic:
		return nil
	case kindBinary:
		if ex.rt.allowFiles {
			return nil
		}
		return &policyError{Reason: "file_upload"}
	}
	enc, err := contentEncoding(r.Header)
	if err != nil {
		return err
	}
	plain, err := decodeBody(raw, enc, limit)
	if err != nil {
		return err
	}
	out, changed, err := p.scanBody(ctx, ex, "request", kind, r.Header.Get("Content-Type"), plain)
	if err != nil {
		return err
	}
	if changed {
		// Sent as identity: Content-Encoding dropped, length fixed.
		ex.body, ex.stripEncoding = out, true
	}
	return nil
}

// scanBody scans a whole decoded body of the given kind, within the scan
// timeout, and reports the scan to the observer. It returns the body
// unchanged (and changed false) when nothing was replaced.
//
// The timeout starts once the body is in: a slow upload or download is
// the business of the server's and transport's own timeouts.
func (p *Proxy) scanBody(ctx context.Context, ex *exchange, direction string, kind bodyKind, ct string, body []byte) ([]byte, bool, error) {
	scanCtx := newScanContext(ctx, p.limits.ScanTimeout)
	defer scanCtx.stop()
	start := time.Now()
	defer func() { p.obs.Scanned(ex.rt.label, direction, time.Since(start)) }()
	ctx = scanCtx
	rt := ex.rt
	switch kind {
	case kindJSON:
		return p.scanJSON(ctx, ex, direction, body, rt.skip, rt.strict)
	case kindForm:
		return p.scanForm(ctx, ex, direction, body)
	case kindMultipart:
		return p.scanMultipart(ctx, ex, direction, ct, body)
	case kindText:
		return p.scanText(ctx, ex, direction, body, nil)
	}
	return body, false, nil
}

// scanText scans a whole text. A request text that is exactly a
// "/secure NAME" command (spaces trimmed) is replaced by the invitation.
func (p *Proxy) scanText(ctx context.Context, ex *exchange, direction string, text, preceding []byte) ([]byte, bool, error) {
	if inv, ok, err := p.secureCommand(ctx, direction, text); err != nil || ok {
		return []byte(inv), ok, err
	}
	opts := detectors.RedactOptions{Diverter: ex.diverter(), Preceding: preceding}
	out, _, err := p.redactValue(ctx, ex.rt, direction, text, opts)
	if err != nil {
		return nil, false, err
	}
	if bytes.Equal(out, text) {
		return text, false, nil
	}
	return out, true, nil
}

// secureCommand answers a request text that is exactly "/secure NAME".
func (p *Proxy) secureCommand(ctx context.Context, direction string, text []byte) (string, bool, error) {
	if p.opts.SecureCommand == nil || direction != "request" || len(text) > 256 {
		return "", false, nil
	}
	rest, ok := bytes.CutPrefix(bytes.TrimSpace(text), []byte("/secure"))
	if !ok || len(rest) == 0 || (rest[0] != ' ' && rest[0] != '\t') {
		return "", false, nil
	}
	form := string(bytes.TrimSpace(rest))
	if form == "" || strings.ContainsAny(form, " \t\r\n") {
		return "", false, nil
	}
	inv, ok, err := p.opts.SecureCommand(ctx, form)
	if err != nil {
		return "", false, &secureCommandError{Err: err}
	}
	return inv, ok, nil
}

// scanJSON scans every string value and number literal of doc outside skip;
// values under strict are scanned strictly. The key of a value is passed as
// preceding context ("cvv: 123"), so keyword rules see field names.
func (p *Proxy) scanJSON(ctx context.Context, ex *exchange, direction string, doc []byte, skip, strict []jsonPath) ([]byte, bool, error) {
	if len(bytes.TrimSpace(doc)) == 0 {
		return doc, false, nil // an empty body has nothing to scan
	}
	// One allocation holds the walk and its state: a closure would cost
	// one for itself, one per variable it updates and one for the walker's
	// path buffer, twice per request.
	s := &jsonScan{p: p, ctx: ctx, ex: ex, direction: direction, skip: skip, strict: strict, div: ex.diverter()}
	s.preceding = s.precBuf[:0]
	out, err := s.w.walk(doc, s)
	if err != nil {
		if errors.Is(err, errMalformed) {
			return nil, false, &bodyError{Kind: "json", Err: err}
		}
		return nil, false, err
	}
	return out, s.changed, nil
}

// jsonScan is the state of one scanJSON call.
type jsonScan struct {
	w            jsonWalker
	p            *Proxy
	ctx          context.Context
	ex           *exchange
	direction    string
	skip, strict []jsonPath
	div          detectors.Diverter
	changed      bool
	preceding    []byte // "key: ", reused: the engine does not keep it
	precBuf      [48]byte
	// threads holds, per field inside an array with the positions folded
	// (messages[*].content), what one value carries to the next: chat
	// histories resent whole to a bot hold a card and, in later
	// messages, its expiry and code, or a question and its answer.
	threads map[string]*jsonThread
}

// jsonThread is what a value of an array field carries to the next one.
type jsonThread struct {
	card     detectors.CardEnd // a card that ended a value, and what it has given since
	cardLeft int               // values after it that may still hold its expiry or code
	question []byte            // the question the last value ended with, and a line break
}

// jsonCardReach is how many values after a card may hold its expiry or
// code: the history may interleave the agent's replies.
const jsonCardReach = 4

func (s *jsonScan) visitJSON(at []string, value []byte, isNumber bool) ([]byte, bool, error) {
	if anyCovers(s.skip, at) {
		return nil, false, nil
	}
	if !isNumber {
		if inv, ok, err := s.p.secureCommand(s.ctx, s.direction, value); err != nil || ok {
			s.changed = s.changed || ok
			return []byte(inv), ok, err
		}
	}
	opts := detectors.RedactOptions{Diverter: s.div, Strict: anyCovers(s.strict, at)}
	inArray := !isNumber && slices.ContainsFunc(at, isIndex)
	var th *jsonThread
	if inArray && s.threads != nil {
		if th = s.threads[tailKey(at)]; th != nil {
			if th.cardLeft > 0 {
				opts.AfterCard = th.card
			}
			// The question the value before ended with is the line
			// above this one.
			s.preceding = append(s.preceding[:0], th.question...)
			opts.Preceding = s.preceding
		}
	}
	if n := len(at); n > 0 && !isIndex(at[n-1]) {
		s.preceding = append(append(s.preceding[:len(opts.Preceding)], at[n-1]...), ": "...)
		opts.Preceding = s.preceding
	}
	masked, fs, err := s.p.redactValue(s.ctx, s.ex.rt, s.direction, value, opts)
	if err != nil {
		return nil, false, err
	}
	if inArray {
		s.follow(at, th, value, masked, fs, opts.AfterCard)
	}
	if bytes.Equal(masked, value) {
		return nil, false, nil
	}
	s.changed = true
	return masked, true, nil
}

// follow records what a value of an array field carries to the next: a
// card it ended with, or one of its values, and its question.
func (s *jsonScan) follow(at []string, th *jsonThread, value, masked []byte, fs []detectors.Finding, after detectors.CardEnd) {
	q := questionOf(masked)
	end := detectors.CardAtEnd(value, fs, after)
	if th == nil {
		if end == detectors.NoCard && q == nil {
			return
		}
		if s.threads == nil {
			s.threads = make(map[string]*jsonThread)
		}
		th = &jsonThread{}
		s.threads[tailKey(at)] = th
	}
	switch {
	case end != detectors.NoCard:
		th.card, th.cardLeft = end, jsonCardReach
	case len(fs) > 0:
		th.cardLeft = 0 // a value with other findings ends the card's thread
	case th.cardLeft > 0:
		th.cardLeft--
	}
	th.question = q
}

// isIndex reports whether a path element (or any string) is a non-empty
// run of ASCII digits, as an array index is.
func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// scanForm scans the values of an application/x-www-form-urlencoded body.
// Field names are kept; a field whose name a skip path names ($.name) is
// not scanned. Unchanged pairs keep their original bytes.
func (p *Proxy) scanForm(ctx context.Context, ex *exchange, direction string, body []byte) ([]byte, bool, error) {
	var out []byte
	changed := false
	at := make([]string, 1)
	last := 0
	for start := 0; start <= len(body); {
		end := bytes.IndexByte(body[start:], '&')
		if end < 0 {
			end = len(body)
		} else {
			end += start
		}
		pair := body[start:end]
		k, v, hasValue := bytes.Cut(pair, []byte("="))
		if hasValue && len(v) > 0 {
			name, err := queryUnescape(k)
			if err != nil {
				return nil, false, &bodyError{Kind: "form", Err: err}
			}
			value, err := queryUnescape(v)
			if err != nil {
				return nil, false, &bodyError{Kind: "form", Err: err}
			}
			at[0] = name
			if !anyCovers(ex.rt.skip, at) {
				masked, ch, err := p.scanText(ctx, ex, direction, []byte(value), []byte(name+": "))
				if err != nil {
					return nil, false, err
				}
				if ch {
					if out == nil {
						out = make([]byte, 0, len(body)+16)
					}
					vStart := start + len(k) + 1
					out = append(out, body[last:vStart]...)
					out = append(out, queryEscape(masked)...)
					last = end
					changed = true
				}
			}
		}
		start = end + 1
	}
	if !changed {
		return body, false, nil
	}
	return append(out, body[last:]...), true, nil
}

// queryUnescape decodes a form-encoded component ("+" is a space).
func queryUnescape(b []byte) (string, error) {
	if bytes.IndexByte(b, '%') < 0 && bytes.IndexByte(b, '+') < 0 {
		return string(b), nil
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '+':
			out = append(out, ' ')
		case '%':
			if i+2 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) {
				return "", fmt.Errorf("invalid percent escape at offset %d: %w", i, errMalformed)
			}
			out = append(out, unhex(b[i+1])<<4|unhex(b[i+2]))
			i += 2
		default:
			out = append(out, c)
		}
	}
	return string(out), nil
}

// queryEscape form-encodes b.
func queryEscape(b []byte) []byte {
	const hex = "0123456789ABCDEF"
	out := make([]byte, 0, len(b)+8)
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || c == '*':
			out = append(out, c)
		case c == ' ':
			out = append(out, '+')
		default:
			out = append(out, '%', hex[c>>4], hex[c&0xf])
		}
	}
	return out
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// scanQuery scans the values of a URL query like a form body: a card number
// in a query string is masked before it reaches the upstream.
func (p *Proxy) scanQuery(ctx context.Context, ex *exchange, raw string) (string, bool, error) {
	start := time.Now()
	defer func() { p.obs.Scanned(ex.rt.label, "request", time.Since(start)) }()
	out, changed, err := p.scanForm(ctx, ex, "request", []byte(raw))
	if err != nil {
		var be *bodyError
		if errors.As(err, &be) {
			// An unparseable query is forwarded as the library cleans it;
			// its values are still scanned as text.
			masked, ch, err := p.scanText(ctx, ex, "request", []byte(raw), nil)
			return string(masked), ch, err
		}
		return "", false, err
	}
	return string(out), changed, nil
}

// mediaParams returns the parameters of a Content-Type value.
func mediaParams(ct string) map[string]string {
	_, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil
	}
	return params
}
