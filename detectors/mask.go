package detectors

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maskStyle says how a value is replaced.
type maskStyle uint8

const (
	maskFull     maskStyle = iota // every letter and digit replaced, separators kept
	maskLast4                     // last four value characters shown (fewer on short values)
	maskBinLast4                  // first six and last four shown on values of 15+ characters
	maskTypeTag                   // [CARD]
	maskTemplate                  // user template
)

// maskChar replaces each hidden value character.
const maskChar = '*'

// tmplPart is a literal or a placeholder of a mask template.
type tmplPart struct {
	lit, ph string
}

// parseMask parses a rule's mask field.
func parseMask(s string) (maskStyle, []tmplPart, error) {
	switch s {
	case "", "full":
		return maskFull, nil, nil
	case "last4":
		return maskLast4, nil, nil
	case "bin_last4":
		return maskBinLast4, nil, nil
	case "type_tag":
		return maskTypeTag, nil, nil
	}
	if !strings.ContainsAny(s, "{}") {
		return 0, nil, fmt.Errorf("%q is not full, last4, bin_last4, type_tag or a template with {type}, {TYPE}, {rule} or {last4}", s)
	}
	var parts []tmplPart
	rest := s
	for rest != "" {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			parts = append(parts, tmplPart{lit: rest})
			break
		}
		if rest[i] == '}' {
			return 0, nil, fmt.Errorf("template: unmatched }")
		}
		if i > 0 {
			parts = append(parts, tmplPart{lit: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return 0, nil, fmt.Errorf("template: unclosed {")
		}
		ph := rest[i+1 : i+j]
		switch ph {
		case "type", "TYPE", "rule", "last4":
		default:
			return 0, nil, fmt.Errorf("template: unknown placeholder {%s} (want {type}, {TYPE}, {rule} or {last4})", ph)
		}
		parts = append(parts, tmplPart{ph: ph})
		rest = rest[i+j+1:]
	}
	return maskTemplate, parts, nil
}

// revealLast returns how many trailing value characters last4 may show for
// a value of n characters: four, and only while at least five stay hidden.
func revealLast(n int) int {
	return max(0, min(4, n-5))
}

// valueChar reports whether r is part of a value (masked) rather than a
// separator (kept).
func valueChar(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiValueChar[r]
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsNumber(r)
}

// asciiValueChar is valueChar below utf8.RuneSelf: letters and digits.
var asciiValueChar = func() (t [utf8.RuneSelf]bool) {
	for c := range utf8.RuneSelf {
		t[c] = c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'z'
	}
	return t
}()

// decodeRune is utf8.DecodeRune with a quick path for ASCII.
func decodeRune(v []byte) (rune, int) {
	if c := v[0]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRune(v)
}

// appendMasked appends the masked form of the original value bytes v.
// clipped values (cut at a window edge) are always masked in full.
func appendMasked(dst, v []byte, r *Rule, typ string, clipped bool) []byte {
	style := r.mask
	if clipped && style != maskTypeTag {
		style = maskFull
	}
	switch style {
	case maskTypeTag:
		return append(appendUpper(append(dst, '['), typ), ']')
	case maskTemplate:
		for _, p := range r.template {
			switch p.ph {
			case "":
				dst = append(dst, p.lit...)
			case "type":
				dst = append(dst, typ...)
			case "TYPE":
				dst = appendUpper(dst, typ)
			case "rule":
				dst = append(dst, r.ID...)
			case "last4":
				n := countValueChars(v)
				k := revealLast(n)
				dst = appendShown(dst, v, n-k, n)
			}
		}
		return dst
	}
	n := countValueChars(v)
	showFirst, showLast := 0, 0
	switch style {
	case maskLast4:
		showLast = revealLast(n)
	case maskBinLast4:
		if n >= 15 {
			showFirst, showLast = 6, 4
		} else {
			showLast = revealLast(n)
		}
	}
	idx := 0
	for i := 0; i < len(v); {
		r, size := decodeRune(v[i:])
		switch {
		case valueChar(r):
			if idx < showFirst || idx >= n-showLast {
				dst = appendShownRune(dst, r)
			} else {
				dst = append(dst, maskChar)
			}
			idx++
		case r == utf8.RuneError && size <= 1:
			dst = append(dst, maskChar)
		case foldedAway(r):
			// format characters vanish
		default:
			dst = append(dst, v[i:i+size]...)
		}
		i += size
	}
	return dst
}

// appendShown appends value characters from index lo to hi of v, digits in ASCII.
func appendShown(dst, v []byte, lo, hi int) []byte {
	idx := 0
	for i := 0; i < len(v); {
		r, size := decodeRune(v[i:])
		if valueChar(r) {
			if idx >= lo && idx < hi {
				dst = appendShownRune(dst, r)
			}
			idx++
		}
		i += size
	}
	return dst
}

func appendShownRune(dst []byte, r rune) []byte {
	if r < utf8.RuneSelf {
		return append(dst, byte(r))
	}
	if a, ok := foldRune(r); ok && a != 0 {
		return append(dst, a)
	}
	return utf8.AppendRune(dst, r)
}

func foldedAway(r rune) bool {
	a, ok := foldRune(r)
	return ok && a == 0
}

func countValueChars(v []byte) int {
	n := 0
	for i := 0; i < len(v); {
		r, size := decodeRune(v[i:])
		if valueChar(r) {
			n++
		}
		i += size
	}
	return n
}

// normValue returns the validator form of a value: letters and digits only,
// digits in ASCII, letters upper-cased.
func normValue(v []byte) []byte { return appendNormValue(make([]byte, 0, len(v)), v) }

// appendNormValue appends the validator form of v to out.
func appendNormValue(out, v []byte) []byte {
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			switch {
			case c >= '0' && c <= '9', c >= 'A' && c <= 'Z':
				out = append(out, c)
			case c >= 'a' && c <= 'z':
				out = append(out, c-'a'+'A')
			}
			i++
			continue
		}
		r, size := decodeRune(v[i:])
		if a, ok := foldRune(r); ok && a != 0 {
			switch {
			case a >= '0' && a <= '9', a >= 'A' && a <= 'Z':
				out = append(out, a)
			case a >= 'a' && a <= 'z':
				out = append(out, a-'a'+'A')
			}
		} else if unicode.IsLetter(r) {
			out = utf8.AppendRune(out, unicode.ToUpper(r))
		}
		i += size
	}
	return out
}

// appendUpper appends strings.ToUpper(s) to dst, without allocating for
// the ASCII names types have.
func appendUpper(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return append(dst, strings.ToUpper(s)...)
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
