package proxy

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// errMalformed marks a body or document that cannot be parsed. Errors that
// wrap it carry the offset of the problem, never the input.
var errMalformed = errors.New("malformed")

// maxJSONDepth bounds nesting so a hostile document cannot exhaust the stack.
const maxJSONDepth = 10000

// rewriteJSON walks every string value and number literal in doc and calls
// visit with its path (object keys, and array indexes as decimal strings),
// its decoded value and whether it is a number literal. Object keys are not
// visited. String values are decoded (escapes, \u0034, surrogate pairs)
// before visit sees them.
//
// When visit reports changed, the replacement is written as a JSON string,
// escaped as needed; a replaced number literal becomes a string too. Every
// byte that is not replaced is copied unchanged: key order, whitespace and
// escapes are preserved. When nothing changes, doc itself is returned.
//
// The at slice is reused between calls: visit must copy it to keep it. An
// error from visit stops the walk and is returned as is. A document that is
// not valid JSON returns an error wrapping errMalformed that names the offset
// only.
func rewriteJSON(doc []byte, visit func(at []string, value string, isNumber bool) (replacement string, changed bool, err error)) ([]byte, error) {
	return walkJSON(doc, func(at []string, value []byte, isNumber bool) ([]byte, bool, error) {
		rep, changed, err := visit(at, string(value), isNumber)
		if err != nil || !changed {
			return nil, changed, err
		}
		return []byte(rep), true, nil
	})
}

// walkJSON is rewriteJSON without copies, for the hot path: value is only
// valid during the call (it may point into doc or into a scratch buffer)
// and must not be modified; the replacement is copied before visit is
// called again.
func walkJSON(doc []byte, visit func(at []string, value []byte, isNumber bool) (replacement []byte, changed bool, err error)) ([]byte, error) {
	var w jsonWalker
	return w.walk(doc, jsonVisitFunc(visit))
}

// jsonVisitor receives the scalars of a document, as the visit function of
// walkJSON does.
type jsonVisitor interface {
	visitJSON(at []string, value []byte, isNumber bool) (replacement []byte, changed bool, err error)
}

// jsonVisitFunc is a function as a jsonVisitor.
type jsonVisitFunc func(at []string, value []byte, isNumber bool) ([]byte, bool, error)

func (f jsonVisitFunc) visitJSON(at []string, value []byte, isNumber bool) ([]byte, bool, error) {
	return f(at, value, isNumber)
}

// walk is walkJSON with a visitor, on w's own path buffer: a caller that
// keeps the walker in a struct of its own walks without allocating.
func (w *jsonWalker) walk(doc []byte, visit jsonVisitor) ([]byte, error) {
	*w = jsonWalker{doc: doc, visit: visit}
	w.at = w.atBuf[:0]
	w.skipSpace()
	if err := w.value(0); err != nil {
		return nil, err
	}
	w.skipSpace()
	if w.i != len(doc) {
		return nil, w.malformed("trailing data")
	}
	if w.out == nil {
		return doc, nil
	}
	return append(w.out, doc[w.last:]...), nil
}

// jsonWalker is the state of one walkJSON call.
type jsonWalker struct {
	doc   []byte
	i     int
	visit jsonVisitor
	at    []string
	out   []byte // nil until the first replacement
	last  int    // doc[last:] has not been copied to out yet
	buf   []byte // scratch for decoding strings
	atBuf [8]string
}

func (w *jsonWalker) malformed(what string) error {
	return fmt.Errorf("json at offset %d: %s: %w", w.i, what, errMalformed)
}

func (w *jsonWalker) skipSpace() {
	for w.i < len(w.doc) {
		switch w.doc[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

func (w *jsonWalker) value(depth int) error {
	if depth > maxJSONDepth {
		return w.malformed("nesting too deep")
	}
	if w.i >= len(w.doc) {
		return w.malformed("unexpected end")
	}
	switch c := w.doc[w.i]; {
	case c == '{':
		return w.object(depth)
	case c == '[':
		return w.array(depth)
	case c == '"':
		start := w.i
		s, err := w.strBytes()
		if err != nil {
			return err
		}
		return w.leaf(start, s, false)
	case c == '-' || (c >= '0' && c <= '9'):
		start := w.i
		if err := w.number(); err != nil {
			return err
		}
		return w.leaf(start, w.doc[start:w.i:w.i], true)
	case c == 't':
		return w.literal("true")
	case c == 'f':
		return w.literal("false")
	case c == 'n':
		return w.literal("null")
	}
	return w.malformed("unexpected character")
}

// leaf hands one scalar to visit and records its replacement.
func (w *jsonWalker) leaf(start int, s []byte, isNumber bool) error {
	rep, changed, err := w.visit.visitJSON(w.at, s, isNumber)
	if err != nil {
		return err
	}
	if !changed {
		return nil
	}
	if w.out == nil {
		w.out = make([]byte, 0, len(w.doc)+len(rep)+16)
	}
	w.out = append(w.out, w.doc[w.last:start]...)
	w.out = appendJSONString(w.out, rep)
	w.last = w.i
	return nil
}

func (w *jsonWalker) literal(lit string) error {
	if len(w.doc)-w.i < len(lit) || string(w.doc[w.i:w.i+len(lit)]) != lit {
		return w.malformed("invalid literal")
	}
	w.i += len(lit)
	return nil
}

func (w *jsonWalker) object(depth int) error {
	w.i++ // {
	w.skipSpace()
	if w.i < len(w.doc) && w.doc[w.i] == '}' {
		w.i++
		return nil
	}
	for {
		w.skipSpace()
		if w.i >= len(w.doc) || w.doc[w.i] != '"' {
			return w.malformed("expected object key")
		}
		key, err := w.str()
		if err != nil {
			return err
		}
		w.skipSpace()
		if w.i >= len(w.doc) || w.doc[w.i] != ':' {
			return w.malformed("expected colon")
		}
		w.i++
		w.skipSpace()
		w.at = append(w.at, key)
		if err := w.value(depth + 1); err != nil {
			return err
		}
		w.at = w.at[:len(w.at)-1]
		if done, err := w.afterItem('}', "object", "closing brace"); done || err != nil {
			return err
		}
	}
}

func (w *jsonWalker) array(depth int) error {
	w.i++ // [
	w.skipSpace()
	if w.i < len(w.doc) && w.doc[w.i] == ']' {
		w.i++
		return nil
	}
	for n := 0; ; n++ {
		w.skipSpace()
		w.at = append(w.at, strconv.Itoa(n))
		if err := w.value(depth + 1); err != nil {
			return err
		}
		w.at = w.at[:len(w.at)-1]
		if done, err := w.afterItem(']', "array", "closing bracket"); done || err != nil {
			return err
		}
	}
}

// afterItem reads what follows a member of an object or an element of an
// array: a comma, or closing, which ends it (done).
func (w *jsonWalker) afterItem(closing byte, in, closingName string) (done bool, err error) {
	w.skipSpace()
	if w.i >= len(w.doc) {
		return false, w.malformed("unexpected end in " + in)
	}
	switch w.doc[w.i] {
	case ',':
		w.i++
		return false, nil
	case closing:
		w.i++
		return true, nil
	}
	return false, w.malformed("expected comma or " + closingName)
}

func (w *jsonWalker) number() error {
	d := w.doc
	i := w.i
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		w.i = i
		return w.malformed("invalid number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			w.i = i
			return w.malformed("invalid number")
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			w.i = i
			return w.malformed("invalid number")
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	w.i = i
	return nil
}

// str reads the string starting at the opening quote and returns it decoded.
func (w *jsonWalker) str() (string, error) {
	b, err := w.strBytes()
	return string(b), err
}

// strBytes is str without a copy: the result points into the document
// (no escapes) or into w.buf, until the next call.
func (w *jsonWalker) strBytes() ([]byte, error) {
	d := w.doc
	start := w.i + 1
	i := start
	// Fast path: no escapes.
	for i < len(d) {
		c := d[i]
		if c == '"' {
			w.i = i + 1
			return d[start:i:i], nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			w.i = i
			return nil, w.malformed("control character in string")
		}
		i++
	}
	b := append(w.buf[:0], d[start:i]...)
	for {
		if i >= len(d) {
			w.i = i
			return nil, w.malformed("unterminated string")
		}
		c := d[i]
		switch {
		case c == '"':
			w.i = i + 1
			w.buf = b
			return b, nil
		case c < 0x20:
			w.i = i
			return nil, w.malformed("control character in string")
		case c != '\\':
			b = append(b, c)
			i++
			continue
		}
		// Escape.
		if i+1 >= len(d) {
			w.i = i
			return nil, w.malformed("unterminated escape")
		}
		e := d[i+1]
		i += 2
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(d, i)
			if !ok {
				w.i = i
				return nil, w.malformed("invalid unicode escape")
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok2 := rune(0), false
				if i+6 <= len(d) && d[i] == '\\' && d[i+1] == 'u' {
					r2, ok2 = hex4(d, i+2)
				}
				if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			b = utf8.AppendRune(b, r)
		default:
			w.i = i - 1
			return nil, w.malformed("invalid escape")
		}
	}
}

func hex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// appendJSONString appends s as a quoted JSON string. Quotes, backslashes
// and control characters are escaped, as are U+2028 and U+2029; invalid
// UTF-8 becomes U+FFFD. Everything else is written as is.
func appendJSONString[T string | []byte](b []byte, s T) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
