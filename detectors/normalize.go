package detectors

import (
	"encoding/binary"
	"unicode"
	"unicode/utf8"
)

// view is a normalised copy of a window of text: every Unicode decimal
// digit mapped to ASCII, format characters (zero-width spaces, joiners, soft
// hyphens, bidi marks) removed, Unicode spaces and dashes mapped to ASCII
// ones and full-width ASCII mapped to ASCII. Patterns run on the view;
// offsets map back to the original bytes.
type view struct {
	b     []byte
	start []int32 // view byte -> first original byte (relative to base); nil means identity
	end   []int32 // view byte -> end of its original character
	base  int     // absolute position of the window start
}

// orig maps the view span [vs, ve) to absolute original offsets.
func (v *view) orig(vs, ve int) (int, int) {
	if v.start == nil {
		return v.base + vs, v.base + ve
	}
	return v.base + int(v.start[vs]), v.base + int(v.end[ve-1])
}

// from returns the part of v that maps to absolute positions >= pos.
func (v view) from(pos int) view {
	if v.start == nil {
		k := min(max(0, pos-v.base), len(v.b))
		return view{b: v.b[k:], base: v.base + k}
	}
	k := 0
	for k < len(v.b) && v.base+int(v.start[k]) < pos {
		k++
	}
	return view{b: v.b[k:], start: v.start[k:], end: v.end[k:], base: v.base}
}

// until returns the part of v that maps to absolute positions < pos.
func (v view) until(pos int) view {
	if v.start == nil {
		k := min(max(0, pos-v.base), len(v.b))
		return view{b: v.b[:k], base: v.base}
	}
	k := len(v.b)
	for k > 0 && v.base+int(v.end[k-1]) > pos {
		k--
	}
	return view{b: v.b[:k], start: v.start[:k], end: v.end[:k], base: v.base}
}

// origStart and origEnd return the absolute span v covers.
func (v view) origStart() int {
	if v.start == nil || len(v.b) == 0 {
		return v.base
	}
	return v.base + int(v.start[0])
}

func (v view) origEnd() int {
	if v.start == nil {
		return v.base + len(v.b)
	}
	if len(v.b) == 0 {
		return v.base
	}
	return v.base + int(v.end[len(v.b)-1])
}

// newView normalises w, whose first byte is at absolute position base.
func newView(w []byte, base int) view {
	if isASCII(w) {
		return view{b: w, base: base}
	}
	v := view{b: make([]byte, 0, len(w)), start: make([]int32, 0, len(w)), end: make([]int32, 0, len(w)), base: base}
	for i := 0; i < len(w); {
		c := w[i]
		if c < 0x80 {
			v.add(c, i, i+1)
			i++
			continue
		}
		r, size := utf8.DecodeRune(w[i:])
		if r == utf8.RuneError && size <= 1 {
			v.add(c, i, i+1)
			i++
			continue
		}
		if a, ok := foldRune(r); ok {
			if a != 0 {
				v.add(a, i, i+size)
			}
		} else {
			for k := 0; k < size; k++ {
				v.add(w[i+k], i+k, i+k+1)
			}
		}
		i += size
	}
	return v
}

func (v *view) add(c byte, s, e int) {
	v.b = append(v.b, c)
	v.start = append(v.start, int32(s))
	v.end = append(v.end, int32(e))
}

// foldRune maps a non-ASCII rune to its ASCII stand-in. ok is false when the
// rune is kept as it is; a zero byte with ok true means the rune is dropped.
func foldRune(r rune) (byte, bool) {
	switch {
	case r >= 0xFF01 && r <= 0xFF5E: // full-width ASCII
		return byte(r - 0xFEE0), true
	case unicode.IsDigit(r):
		if d := decimalValue(r); d >= 0 {
			return byte('0' + d), true
		}
		return 0, false
	case unicode.Is(unicode.Cf, r), r == 0x034F, r >= 0xFE00 && r <= 0xFE0F:
		return 0, true // format characters, grapheme joiner, variation selectors
	case r == 0x2028 || r == 0x2029 || r == 0x0085:
		return '\n', true
	case unicode.Is(unicode.Zs, r):
		return ' ', true
	case unicode.Is(unicode.Pd, r), r == 0x2212, r == 0x2027, r == 0x00B7:
		return '-', true
	case r == 0x2024 || r == 0xFE52 || r == 0x3002:
		return '.', true
	case r == 0x2044 || r == 0x2215:
		return '/', true
	}
	return 0, false
}

// decimalValue returns the value of a Unicode decimal digit, or -1.
func decimalValue(r rune) int {
	if r >= 0x1D7CE && r <= 0x1D7FF { // mathematical digits: five runs of ten
		return int(r-0x1D7CE) % 10
	}
	k := 0
	for k < 9 && unicode.IsDigit(r-rune(k)-1) {
		k++
	}
	return k
}

// isASCII reports whether b holds only ASCII bytes, eight at a time: views
// of overlapping windows check the same text again and again.
func isASCII(b []byte) bool {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(b); i++ {
		if b[i] >= 0x80 {
			return false
		}
	}
	return true
}
