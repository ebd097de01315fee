package detectors

import (
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// Rule is a compiled rule: the matcher, keyword set, context words and
// validator, built once by Compile. Only compiled rules reach the scan path.
type Rule struct {
	ID, Type, Description string
	// Source is "default" for an embedded rule, else the config file name.
	Source string

	spec        RuleSpec
	action      Action
	mask        maskStyle
	template    []tmplPart
	re2         *lazyRegexp     // embedded defaults
	rx2         *regexp2.Regexp // configured rules
	group       int             // capture group holding the value
	scanner     string          // built-in scanner instead of a pattern
	keywords    []string        // lower-case
	ctxWords    []string        // lower-case
	before      int             // context window before a value, bytes
	after       int             // context window after a value, bytes
	ctxRequired bool            //
	validator   func([]byte) bool
	allowValues map[string]bool
	allowRE     []*regexp2.Regexp
	confidence  float64
	maxLen      int
	pre         prefilter
	first       *[256]bool             // bytes a value can start with; nil: any
	anchored    *lazyRegexp            // re2 anchored at the start, with first
	guarded     bool                   // anchored starts one byte before the value
	guard       *[256]bool             // the bytes the guard takes just before a value; nil: not known
	shapeWhole  func([]byte) bool      // necessary for re2 to match b; nil: none
	shapeAt     func([]byte, int) bool // necessary for anchored to match a value at b[i]
	around      *[256]bool             // a match holds its keyword and only these bytes (see keywordInside)
	spans       bool                   // values may span plain words: scan past keyword hits
	lineScope   bool                   // sees all text (no keywords, configured)
	timeout     time.Duration
	idx         int
}

// lazyRegexp is a Go regexp of an embedded rule, compiled when the rule
// first runs. Compiling every default pattern and its anchored form would
// be most of the cost of Compile, paid by every process, while the
// prefilters keep most rules from ever running on typical text. Compile
// has parsed the pattern already, and a pattern that parses compiles, so
// MustCompile cannot fail here; configured patterns never take this path.
type lazyRegexp struct {
	expr string
	once sync.Once
	re   *regexp.Regexp
}

// FindSubmatchIndex is the compiled pattern's FindSubmatchIndex.
func (l *lazyRegexp) FindSubmatchIndex(b []byte) []int {
	l.once.Do(func() { l.re = regexp.MustCompile(l.expr) })
	return l.re.FindSubmatchIndex(b)
}

// span is a value found in a view, in view offsets.
type span struct{ s, e int }

// find returns the value spans of r in v. timedOut reports a configured
// pattern that ran past its budget; the caller then treats the whole
// window as a match.
func (r *Rule) find(v *view, dst []span) ([]span, bool) {
	b := v.b
	switch {
	case r.scanner == "card":
		return cardSpans(b, dst), false
	case r.re2 != nil:
		if r.shapeWhole != nil && !r.shapeWhole(b) {
			return dst, false
		}
		// An empty rest holds no value, and the shape check, true of the
		// whole, may be false of what follows a value: each run of the
		// pattern costs far more than the check.
		for pos := 0; pos < len(b); {
			if pos > 0 && r.shapeWhole != nil && !r.shapeWhole(b[pos:]) {
				break
			}
			loc := r.re2.FindSubmatchIndex(b[pos:])
			if loc == nil {
				break
			}
			gs, ge := loc[2*r.group], loc[2*r.group+1]
			next := pos + loc[0] + 1
			if gs >= 0 && ge > gs {
				dst = append(dst, span{pos + gs, pos + ge})
				next = max(next, pos+ge)
			}
			pos = next
		}
		return dst, false
	case r.rx2 != nil:
		return r.findUser(b, dst)
	}
	return dst, false
}

// findUser runs a configured (regexp2) pattern. A match that runs out of
// time, or a library panic, reports timedOut: the caller masks the window.
func (r *Rule) findUser(b []byte, dst []span) (_ []span, timedOut bool) {
	defer func() {
		if recover() != nil {
			timedOut = true
		}
	}()
	runes, offs := toRunes(b)
	start := 0
	for start <= len(runes) {
		m, err := r.rx2.FindRunesMatchStartingAt(runes, start)
		if err != nil {
			// The error text holds the input: it is dropped here.
			return dst, true
		}
		if m == nil {
			break
		}
		next := m.Index + 1
		if g := m.GroupByNumber(r.group); g != nil && len(g.Captures) > 0 && g.Length > 0 {
			dst = append(dst, span{offs[g.Index], offs[g.Index+g.Length]})
			next = max(next, g.Index+g.Length)
		}
		start = next
	}
	return dst, false
}

// toRunes decodes b and returns, for each rune index (and one past the
// end), its byte offset.
func toRunes(b []byte) ([]rune, []int) {
	runes := make([]rune, 0, len(b))
	offs := make([]int, 0, len(b)+1)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		runes = append(runes, r)
		offs = append(offs, i)
		i += size
	}
	return runes, append(offs, len(b))
}

// allowed reports whether a value is on the rule's allow list.
func (r *Rule) allowed(raw, norm []byte) bool {
	if len(r.allowValues) > 0 && (r.allowValues[strings.ToUpper(string(raw))] || r.allowValues[string(norm)]) {
		return true
	}
	for _, re := range r.allowRE {
		ok, err := re.MatchString(string(raw))
		if err == nil && ok {
			return true
		}
	}
	return false
}

// cardSep reports bytes that may separate digit groups of a number.
func cardSep(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '-', '.', '/', '_', '\\', '|', '*':
		return true
	}
	return false
}

// digitGroups appends the maximal ASCII digit runs of b as spans.
func digitGroups(b []byte, dst []span) []span {
	for i := 0; i < len(b); {
		if !isDigit(b[i]) {
			i++
			continue
		}
		j := i
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		dst = append(dst, span{i, j})
		i = j
	}
	return dst
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// clusters splits digit groups into chains joined by at most three
// separator bytes, calling fn with each chain.
func clusters(b []byte, groups []span, fn func([]span)) {
	for i := 0; i < len(groups); {
		j := i + 1
		for j < len(groups) && joined(b, groups[j-1].e, groups[j].s) {
			j++
		}
		fn(groups[i:j])
		i = j
	}
}

func joined(b []byte, from, to int) bool {
	if to-from > 3 {
		return false
	}
	for k := from; k < to; k++ {
		if !cardSep(b[k]) {
			return false
		}
	}
	return true
}

// cardSpans finds runs of 12 to 19 digits, whatever separates their digit
// groups, that pass the card check. Within a chain of groups the earliest,
// then longest, valid run wins; a run that is only part of the chain must
// be a single group or hold 15 digits or more.
func cardSpans(b []byte, dst []span) []span {
	var gbuf [32]span
	groups := digitGroups(b, gbuf[:0])
	var digits [19]byte
	for ci := 0; ci < len(groups); {
		cj := ci + 1
		for cj < len(groups) && joined(b, groups[cj-1].e, groups[cj].s) {
			cj++
		}
		c := groups[ci:cj]
		ci = cj
		for i := 0; i < len(c); {
			found := -1
			n := 0
			for j := i; j < len(c); j++ {
				l := c[j].e - c[j].s
				if n+l > 19 {
					break
				}
				copy(digits[n:], b[c[j].s:c[j].e])
				n += l
				// Part of a chain counts when it is one digit run or
				// holds 15 digits or more: a 16-digit number that fails
				// is not read as a 12-digit card and four extra digits.
				whole := i == 0 && j == len(c)-1
				if n >= 12 && (whole || i == j || n >= 15) && ValidCard(digits[:n]) {
					found = j
				}
			}
			if found >= 0 {
				dst = append(dst, span{c[i].s, c[found].e})
				i = found + 1
				continue
			}
			i++
		}
	}
	return dst
}

// strictSpans finds chains of digit groups holding six digits or more.
func strictSpans(b []byte, dst []span) []span {
	var gbuf [32]span
	groups := digitGroups(b, gbuf[:0])
	clusters(b, groups, func(c []span) {
		n := 0
		for _, g := range c {
			n += g.e - g.s
		}
		if n >= 6 {
			dst = append(dst, span{c[0].s, c[len(c)-1].e})
		}
	})
	return dst
}
