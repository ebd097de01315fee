package detectors

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
)

// found is a finding before resolution, with what masking needs.
type found struct {
	s, e    int
	rule    *Rule
	conf    float64
	action  Action
	clipped bool
	ctxGap  int // bytes between the value and its nearest context word; -1: none
}

// scanner is the one scan path behind Find, Redact and Stream: bytes go
// through the partitioners, closed segments run the rules, and text is
// released up to the point no later byte can change.
type scanner struct {
	e    *Engine
	opts RedactOptions

	buf     []byte // input from absolute position bufBase
	bufBase int
	n       int // bytes fed
	owned   bool

	main partitioner
	line *partitioner

	segs     []segment
	finds    []found
	rel      int // released up to here
	skip     int // bytes of Preceding: scanned, never released
	done     bool
	findOnly bool // no output, no diverter calls
	failed   error

	groups  []found // release's merged findings
	norm    []byte  // a value in validator form; cleared before reuse by another scan
	joined  []byte  // Preceding and the text of a one-shot scan; cleared likewise
	spans   []span
	ranges  []span
	hitHint [2]int // where the last hitsBetween of each caller started
	kwNear  []bool // per rule, for the segment being scanned
	ctxNear []bool
	flagged []int          // the rules with a keyword or context word near it
	tails   []cardTailSpan // the card tails found in it
	// leadTried: the start of the text was tried for a card's tail
	// (RedactOptions.AfterCard).
	leadTried bool
	cand      []*Rule // the rules it runs
	nseg      int
}

func (e *Engine) newScanner(opts RedactOptions) *scanner {
	s := &scanner{e: e, opts: opts}
	s.main = partitioner{ac: e.ac}
	if len(e.lineRules) > 0 {
		s.line = &partitioner{all: true}
	}
	return s
}

// getScanner returns a scanner for a one-shot scan, reusing the buffers of
// an earlier one; putScanner hands it back once the scan is over.
func (e *Engine) getScanner(opts RedactOptions) *scanner {
	old, _ := e.scanners.Get().(*scanner)
	if old == nil {
		return e.newScanner(opts)
	}
	clear(old.kwNear)
	clear(old.ctxNear)
	s := old
	*s = scanner{
		e: e, opts: opts,
		segs: old.segs[:0], finds: old.finds[:0], groups: old.groups[:0], norm: old.norm[:0], joined: old.joined[:0], spans: old.spans[:0], ranges: old.ranges[:0],
		kwNear: old.kwNear, ctxNear: old.ctxNear, flagged: old.flagged[:0], cand: old.cand[:0], tails: old.tails[:0],
		main: old.main.reused(),
		line: old.line,
	}
	if s.line != nil {
		*s.line = s.line.reused()
	}
	return s
}

func (e *Engine) putScanner(s *scanner) {
	// Both held text being scanned; a large joined buffer is not kept.
	clear(s.norm[:cap(s.norm)])
	clear(s.joined[:cap(s.joined)])
	if cap(s.joined) > 64<<10 {
		s.joined = nil
	}
	s.buf, s.opts, s.failed = nil, RedactOptions{}, nil
	e.scanners.Put(s)
}

// feed scans p, the text after what was fed before. A scanner that owns
// its buffer keeps a copy; a one-shot scan's buffer is the whole text, set
// before the first feed.
func (s *scanner) feed(p []byte) {
	if s.owned {
		s.buf = append(s.buf, p...)
	}
	s.main.feed(p, s.n)
	if s.line != nil {
		s.line.feed(p, s.n)
	}
	s.n += len(p)
}

func (s *scanner) finish() {
	s.main.finish(s.n)
	if s.line != nil {
		s.line.finish(s.n)
	}
	s.done = true
}

// step runs every segment that is ready and returns the masked text and
// findings that are now final. Findings' offsets are absolute minus skip.
func (s *scanner) step(ctx context.Context, out []byte, fs []Finding) ([]byte, []Finding, error) {
	if s.failed != nil {
		return out, fs, s.failed
	}
	if len(s.segs) == 0 {
		// Take the partitioner's segments without copying them.
		s.segs, s.main.segs = s.main.segs, s.segs[:0]
	} else {
		s.segs = append(s.segs, s.main.segs...)
		s.main.segs = s.main.segs[:0]
	}
	if s.line != nil {
		s.segs = append(s.segs, s.line.segs...)
		s.line.segs = s.line.segs[:0]
	}
	safe := s.n
	if !s.done {
		safe = min(s.main.safe(s.n), safe)
		if s.line != nil {
			safe = min(s.line.safe(s.n), safe)
		}
	}
	kept := s.segs[:0]
	for _, sg := range s.segs {
		if sg.look == 0 {
			sg.look = s.look(sg)
		}
		if !s.done && s.n < sg.b+sg.look {
			kept = append(kept, sg)
			safe = min(safe, sg.a)
			continue
		}
		s.nseg++
		if s.nseg&63 == 0 {
			if err := ctx.Err(); err != nil {
				s.failed = fmt.Errorf("scanning: %w", err)
				return out, fs, s.failed
			}
		}
		s.scanSegment(sg)
	}
	s.segs = kept
	return s.release(ctx, safe, out, fs)
}

// look returns how far past its end segment sg is scanned: the reach of
// the keyword and context-word hits in it, 64 bytes more after a forced
// cut, and the largest context "after" window.
func (s *scanner) look(sg segment) int {
	la := s.e.maxAfter + 1
	if sg.forcedEnd {
		la += lookAround
	}
	if sg.all {
		return la
	}
	extra := 0
	for _, h := range s.hitsBetween(sg.a+1, sg.b, &s.hitHint[0]) {
		extra = max(extra, s.e.kwLook[h.kw])
	}
	return la + extra
}

// scanSegment runs the rules of sg and records what they find.
func (s *scanner) scanSegment(sg segment) {
	w0 := max(0, sg.a-lookAround)
	for w0 < sg.a && s.at(w0)&0xC0 == 0x80 {
		w0++
	}
	w1 := min(s.n, sg.b+sg.look-s.e.maxAfter-1)
	for w1 > sg.b && w1 < s.n && s.at(w1)&0xC0 == 0x80 {
		w1--
	}
	iend := sg.b
	if sg.forcedEnd {
		iend = min(w1, sg.b+lookAround)
	}
	// ext is everything the segment may see; isl the island alone (with
	// 64 bytes on each side of a forced cut). Embedded rules run on isl,
	// or next to their keywords and context words in ext; configured
	// rules run on ext.
	iw0 := sg.a
	if sg.forcedStart {
		iw0 = w0
	}
	rules := s.e.rules
	if sg.all {
		rules = s.e.lineRules
	}
	hits := s.hitsBetween(w0-s.e.maxBefore-maxKeyword-1, w1+s.e.maxAfter+maxKeyword, &s.hitHint[1])
	// Which rules have a keyword, or a required context word, close
	// enough to this segment to matter.
	if len(s.kwNear) < len(s.e.all) {
		s.kwNear = make([]bool, len(s.e.all))
		s.ctxNear = make([]bool, len(s.e.all))
	}
	flagged := s.flagged[:0]
	for _, h := range hits {
		o := s.e.kwOwner[h.kw]
		r := s.e.all[o.rule]
		was := s.kwNear[o.rule] || s.ctxNear[o.rule]
		switch {
		case !o.ctx && h.e >= w0 && h.e <= w1:
			s.kwNear[o.rule] = true
		case !o.ctx:
		case !r.spans && r.after == 0 && !s.e.wholeWindows:
			// Values that are not words begin in the island: the word
			// must come before it, and its window reach it.
			if h.e <= iend && h.e+r.before >= iw0 {
				s.ctxNear[o.rule] = true
			}
		case h.e >= w0-r.before && (h.e < w1 || r.after > 0 && h.e <= w1+r.after+maxKeyword):
			// A context word that ends past the view serves only rules
			// that look for context after their values.
			s.ctxNear[o.rule] = true
		}
		if !was && (s.kwNear[o.rule] || s.ctxNear[o.rule]) && (len(r.keywords) > 0 || r.ctxRequired) {
			flagged = append(flagged, o.rule)
		}
	}
	s.flagged = flagged
	// The island's counts, from its bytes: when they are all ASCII its
	// view is those bytes, and the counts serve the view too.
	raw := s.buf[iw0-s.bufBase : iend-s.bufBase]
	var stIsl, stExt textStats
	stIsl.of(raw)
	if !sg.all {
		// The rules that need no keyword or context word and whose
		// values fit in the island, and those with one near, in order.
		free := s.e.freeByLen[min(iend-iw0, len(s.e.freeByLen)-1)]
		if len(flagged) == 0 {
			if !s.opts.Strict && !s.leadPending(sg) && !anyMayMatch(free, &stIsl, len(raw)) {
				s.clearNear(hits)
				return
			}
			rules = free
		} else {
			slices.Sort(flagged)
			rules = s.cand[:0]
			for len(free) > 0 || len(flagged) > 0 {
				if len(flagged) == 0 || len(free) > 0 && free[0].idx < flagged[0] {
					rules, free = append(rules, free[0]), free[1:]
				} else {
					rules, flagged = append(rules, s.e.all[flagged[0]]), flagged[1:]
				}
			}
			s.cand = rules
		}
	}
	isl := view{b: raw, base: iw0}
	if stIsl.high {
		isl = newView(raw, iw0)
		stIsl = textStats{}
		stIsl.of(isl.b)
	}
	var ext view // built when a rule needs it
	extBuilt, extReady := false, false
	firstFind := len(s.finds)
	for _, r := range rules {
		if len(r.keywords) > 0 && !s.kwNear[r.idx] {
			continue
		}
		if r.ctxRequired && !s.ctxNear[r.idx] {
			continue
		}
		v, st := &isl, &stIsl
		if r.rx2 != nil || r.ctxRequired || len(r.keywords) > 0 {
			if !extBuilt {
				ext = newView(s.buf[w0-s.bufBase:w1-s.bufBase], w0)
				extBuilt = true
			}
			v, st = &ext, nil
			// Rules anchored next to their context words need no counts.
			if !(r.ctxRequired && r.anchored != nil) {
				if !extReady {
					stExt.of(ext.b)
					extReady = true
				}
				st = &stExt
			}
		}
		if st != nil && !st.pass(&r.pre, len(v.b)) {
			continue
		}
		var timedOut bool
		switch {
		case r.ctxRequired:
			s.spans, timedOut = s.findNear(hits, r, v, true, sg.a, span{iw0, iend})
		case len(r.keywords) > 0 && r.rx2 == nil:
			s.spans, timedOut = s.findNear(hits, r, v, false, sg.a, span{iw0, iend})
		default:
			s.spans, timedOut = r.find(v, s.spans[:0])
		}
		if timedOut {
			s.finds = append(s.finds, found{s: sg.a, e: sg.b, rule: r, conf: 1, action: s.e.actionOf(r), clipped: true, ctxGap: -1})
			continue
		}
		for _, sp := range s.spans {
			os, oe := v.orig(sp.s, sp.e)
			if oe <= sg.a || (os >= sg.b && v == &isl) {
				continue
			}
			s.norm = appendNormValue(s.norm[:0], v.b[sp.s:sp.e])
			norm := s.norm
			if r.validator != nil && !r.validator(norm) {
				// The pattern may have run on into the next group: try
				// the value without its last groups.
				e, ok := s.shorterValid(v.b, sp, r.validator)
				if !ok {
					continue
				}
				sp.e = e
				os, oe = v.orig(sp.s, sp.e)
				s.norm = appendNormValue(s.norm[:0], v.b[sp.s:sp.e])
				norm = s.norm
			}
			if r.allowed(s.buf[os-s.bufBase:oe-s.bufBase], norm) {
				continue
			}
			conf, gap := r.confidence, -1
			if len(r.ctxWords) > 0 {
				gap = s.contextGap(hits, r, os, oe)
				if r.ctxRequired && gap < 0 {
					continue
				}
				if gap >= 0 && !r.ctxRequired {
					conf = min(1, conf+0.1)
				}
			}
			f := found{s: os, e: oe, rule: r, conf: conf, action: s.e.actionOf(r), ctxGap: gap}
			if os < sg.a {
				f.s, f.clipped = sg.a, true
			}
			// A value that reaches the end of what was seen may go on past
			// it, unless the view ends where the island does (not cut for
			// size) and the rule's values cannot take in the white space
			// and plain words that follow an island.
			if end := v.origEnd(); oe >= end && end < s.n && (sg.forcedEnd || v == &ext) && (end != sg.b || sg.forcedEnd || r.spans) {
				f.clipped = true
			}
			s.finds = append(s.finds, f)
		}
	}
	s.clearNear(hits)
	tails := s.tails[:0]
	for i, n := firstFind, len(s.finds); i < n && !sg.all; i++ {
		if f := s.finds[i]; f.rule.scanner == "card" {
			if t := s.cardTail(&isl, f.s, f.e, sg); t.e > t.s {
				tails = append(tails, t)
			}
		}
	}
	if s.leadPending(sg) {
		// The first island of a text that continues a message ending with
		// a card may open with the card's expiry and code.
		s.leadTried = true
		if from := max(sg.a, s.skip); from-s.skip <= cardTailGap && s.onlySeps(s.skip, from) {
			if t := s.tailFrom(&isl, from, s.opts.AfterCard, false, sg); t.e > t.s {
				tails = append(tails, t)
			}
		}
	}
	if len(tails) > 0 {
		s.dropInsideTails(firstFind, tails)
	}
	s.tails = tails
	if s.opts.Strict && !sg.all {
		s.spans = strictSpans(isl.b, s.spans[:0])
		for _, sp := range s.spans {
			os, oe := isl.orig(sp.s, sp.e)
			if oe <= sg.a || os >= sg.b {
				continue
			}
			f := found{s: max(os, sg.a), e: min(oe, sg.b), rule: s.e.strict, conf: 0.5, action: ActionMask, ctxGap: -1}
			f.clipped = os < sg.a || oe > sg.b
			s.finds = append(s.finds, f)
		}
	}
}

// anyMayMatch reports whether a rule of rules may find a value in an
// island of n bytes with the counts st, by their prefilters. Text above
// ASCII is normalised in views: it may.
func anyMayMatch(rules []*Rule, st *textStats, n int) bool {
	if len(rules) == 0 {
		return false
	}
	if st.high {
		return true
	}
	for _, r := range rules {
		if st.pass(&r.pre, n) {
			return true
		}
	}
	return false
}

// leadPending reports whether sg opens a text that continues a message
// ending with a card (RedactOptions.AfterCard): it holds the text's start,
// or begins a few separators after it. (Segments are not always scanned in
// order: one that needs to see far ahead waits.)
func (s *scanner) leadPending(sg segment) bool {
	return s.opts.AfterCard != NoCard && !s.leadTried && !sg.all && sg.b > s.skip && sg.a <= s.skip+cardTailGap
}

// onlySeps reports whether the bytes in [a, b) all separate a card from
// its tail.
func (s *scanner) onlySeps(a, b int) bool {
	for p := a; p < b; p++ {
		if !cardTailSep(s.at(p)) {
			return false
		}
	}
	return true
}

// clearNear resets the marks of the rules of hits.
func (s *scanner) clearNear(hits []hit) {
	for _, h := range hits {
		o := s.e.kwOwner[h.kw]
		s.kwNear[o.rule], s.ctxNear[o.rule] = false, false
	}
}

// hitsBetween returns the hits ending in [from, to]. Each caller keeps
// its own hint: their ranges lie far apart.
func (s *scanner) hitsBetween(from, to int, hint *int) []hit {
	hits := s.main.hits
	if len(hits) == 0 || hits[len(hits)-1].e < from || hits[0].e > to {
		return nil
	}
	// Segments come mostly in order: walk from the last answer when it is
	// close, else search.
	i := *hint
	if i > len(hits) || (i > 0 && hits[i-1].e >= from) || (i < len(hits) && i+8 < len(hits) && hits[i+8].e < from) {
		i = firstEnd(hits, from)
	}
	for i < len(hits) && hits[i].e < from {
		i++
	}
	*hint = i
	j := i
	for j < len(hits) && hits[j].e <= to {
		j++
	}
	return hits[i:j]
}

// firstEnd returns the index of the first hit ending at pos or later.
func firstEnd(hits []hit, pos int) int {
	lo, hi := 0, len(hits)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if hits[m].e < pos {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func (s *scanner) at(pos int) byte { return s.buf[pos-s.bufBase] }

// findNear runs r only where a value could sit next to one of its hits.
// Context words: up to before+max_len bytes after the word, after+max_len
// bytes before it. Keywords (embedded rules, whose keywords are part of the
// value): max_len bytes on either side.
//
// A rule whose values may be words is scanned past the end of the segment
// holding its context word; later segments leave that word's values to it.
// The values of any other rule begin inside an island: island is the
// segment's, and the segments of other islands try theirs.
func (s *scanner) findNear(hits []hit, r *Rule, v *view, ctxWord bool, segStart int, island span) ([]span, bool) {
	lo, hi := v.origStart(), v.origEnd()
	ranges := s.ranges[:0]
	out := s.spans[:0]
	for _, h := range hits {
		o := s.e.kwOwner[h.kw]
		if o.rule != r.idx || o.ctx != ctxWord || (r.spans && ctxWord && r.after == 0 && h.e <= segStart) {
			continue
		}
		switch {
		case !ctxWord && r.around != nil && v.start == nil && h.s >= lo && h.e <= hi:
			// A match holds this keyword: it lies in the run of bytes a
			// match can hold around it.
			a, b := h.s, h.e
			for a > max(lo, h.s-r.maxLen) && r.around[v.b[a-1-v.base]] {
				a--
			}
			for b < min(hi, h.e+r.maxLen) && r.around[v.b[b-v.base]] {
				b++
			}
			ranges = appendRange(ranges, a, b)
		case !ctxWord:
			ranges = appendRange(ranges, max(lo, h.s-r.maxLen), min(hi, h.e+r.maxLen))
		case r.before > 0:
			from, to := max(lo, h.e), min(hi, h.e+r.before+r.maxLen+1)
			if from < to {
				to = contextLine(v, from, to)
			}
			if to <= segStart {
				// The caller drops values ending before the segment, and
				// a value in a later window that starts this early is
				// too far from its context word.
				break
			}
			if r.anchored != nil && v.start == nil {
				// Try the anchored pattern at each byte of the before
				// window that can begin a value (and one byte earlier,
				// for patterns that start with a guard).
				first, upto := from, min(to, h.e+r.before+1)
				if !r.spans && !s.e.wholeWindows {
					first, upto = max(first, island.s), min(upto, island.e)
				}
				out = s.anchoredAt(r, v, from, first, upto, to, out)
				continue
			}
			ranges = appendRange(ranges, from, to)
		}
		if ctxWord && r.after > 0 {
			ranges = appendRange(ranges, max(lo, h.s-r.after-r.maxLen-1), min(hi, h.s))
		}
	}
	s.ranges = ranges
	for _, rg := range ranges {
		tail := v.from(rg.s)
		sv := tail.until(rg.e)
		n := len(out)
		var timedOut bool
		out, timedOut = r.find(&sv, out)
		if timedOut {
			return out, true
		}
		// Spans are relative to sv: rebase them onto v.
		shift := len(v.b) - len(tail.b)
		for i := n; i < len(out); i++ {
			out[i].s += shift
			out[i].e += shift
		}
	}
	return out, false
}

// contextLine returns where the window [from, to) after a context word
// ending at from must stop: at the end of the word's line, for a value on
// a later line belongs to another message or sentence. The next line is
// still the word's when what follows the word on its line is a label or a
// question: nothing but punctuation ("Card number:"), or a few words with
// no digits ending in ':' or '?' ("routing number?", "SSN on file?"). A
// question's answer is the next message.
func contextLine(v *view, from, to int) int {
	var b []byte
	w := *v
	if v.start == nil {
		b = v.b[from-v.base : to-v.base]
	} else {
		w = v.from(from).until(to)
		b = w.b
	}
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return to
	}
	rest := b[:nl]
	for len(rest) > 0 && (rest[len(rest)-1] == ' ' || rest[len(rest)-1] == '\t' || rest[len(rest)-1] == '\r') {
		rest = rest[:len(rest)-1]
	}
	labelOnly := true
	for _, c := range rest {
		switch lineByte[c] {
		case lineDigit:
			return lineBreakAt(&w, v, nl, from)
		case lineWord:
			labelOnly = false
		}
	}
	if labelOnly || len(rest) <= 24 && (rest[len(rest)-1] == ':' || rest[len(rest)-1] == '?') {
		return to
	}
	return lineBreakAt(&w, v, nl, from)
}

// lineBreakAt returns the absolute position of the line break at index nl
// of the window that starts at from: of v itself, or of its part w.
func lineBreakAt(w, v *view, nl, from int) int {
	if v.start == nil {
		return from + nl
	}
	end, _ := w.orig(nl, nl+1)
	return end
}

// Byte classes for contextLine: what may follow a context word on its
// line for the next line to be read too.
const (
	lineLabel = iota // white space and label punctuation
	lineWord         // anything else but digits
	lineDigit
)

var lineByte = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c >= '0' && c <= '9':
			t[c] = lineDigit
		case strings.IndexByte(" \t\r:#-=.?", byte(c)) >= 0:
			t[c] = lineLabel
		default:
			t[c] = lineWord
		}
	}
	return t
}()

// mayStartAfter reports whether anchoredAt tries a value right after c:
// with a known guard, exactly when the guard takes c; without one, not
// inside a run of bytes that can start a value (values start where such a
// run does).
func (r *Rule) mayStartAfter(c byte) bool {
	if r.guard != nil {
		return r.guard[c]
	}
	return !r.first[c]
}

// anchoredAt runs r's anchored pattern at each position of [first, upto)
// (absolute, in an ASCII view) where a value can start, on text up to to.
// A value may start right after its context word, which ends at ctxEnd,
// whatever the word's last byte.
func (s *scanner) anchoredAt(r *Rule, v *view, ctxEnd, first, upto, to int, out []span) []span {
	if first >= to {
		return out
	}
	b := v.b[:to-v.base]
	for p := first; p < upto; p++ {
		i := p - v.base
		if !r.first[b[i]] || p > ctxEnd && !r.mayStartAfter(b[i-1]) {
			continue
		}
		q := i
		if r.guarded && i > 0 {
			q = i - 1
		}
		w := b[:min(len(b), i+r.maxLen+2)]
		// A guard byte that can start a value too lets the value start
		// at q: the shape check looks at i only. A guarded pattern tried
		// at i itself (the window's first byte) may take b[i] as its
		// guard, and its value start at i+1.
		if r.shapeAt != nil && (q == i || !r.first[b[q]]) && !r.shapeAt(w, i) &&
			!(r.guarded && q == i && i+1 < len(w) && r.shapeAt(w, i+1)) {
			continue
		}
		loc := r.anchored.FindSubmatchIndex(w[q:])
		if loc == nil {
			continue
		}
		if gs, ge := loc[2*r.group], loc[2*r.group+1]; gs >= 0 && ge > gs {
			out = append(out, span{q + gs, q + ge})
		}
	}
	return out
}

// appendRange adds [a, b) to sorted ranges, merging overlaps.
func appendRange(rs []span, a, b int) []span {
	if a >= b {
		return rs
	}
	if n := len(rs); n > 0 && a <= rs[n-1].e && a >= rs[n-1].s {
		rs[n-1].e = max(rs[n-1].e, b)
		return rs
	}
	return append(rs, span{a, b})
}

// shorterValid looks for the longest prefix of the value at sp, ending
// before a separator, that passes valid; it returns the new end.
func (s *scanner) shorterValid(b []byte, sp span, valid func([]byte) bool) (int, bool) {
	for e := sp.e - 1; e > sp.s; e-- {
		if !cardSep(b[e]) || cardSep(b[e-1]) {
			continue
		}
		s.norm = appendNormValue(s.norm[:0], b[sp.s:e])
		if valid(s.norm) {
			return e, true
		}
	}
	return 0, false
}

// textStats summarises a view for the rule prefilters.
type textStats struct {
	digits int
	run    int
	high   bool       // a byte above ASCII
	count  [128]uint8 // punctuation bytes, saturating
}

func (t *textStats) of(b []byte) {
	cur := 0
	for _, c := range b {
		switch {
		case c-'0' < 10:
			t.digits++
			cur++
		case c|0x20-'a' < 26:
			cur++
		default:
			cur = 0
			if c >= 128 {
				t.high = true
			} else if t.count[c] < 255 {
				t.count[c]++
			}
			continue
		}
		t.run = max(t.run, cur)
	}
}

func (t *textStats) pass(p *prefilter, n int) bool {
	if t.digits < p.digits || n < p.length || t.run < p.run {
		return false
	}
	for _, bc := range p.bytes {
		if int(t.count[bc.c]) < bc.n {
			return false
		}
	}
	return true
}

// contextGap returns how many bytes lie between [vs, ve) and the nearest
// context word of r that ends at most r.before bytes before vs or starts
// at most r.after bytes after ve; -1 when there is none.
func (s *scanner) contextGap(hits []hit, r *Rule, vs, ve int) int {
	gap := -1
	for _, h := range hits {
		d := -1
		switch {
		case h.e <= vs && h.e >= vs-r.before:
			d = vs - h.e
		case r.after > 0 && h.s >= ve && h.s <= ve+r.after:
			d = h.s - ve
		default:
			continue
		}
		o := s.e.kwOwner[h.kw]
		if o.rule == r.idx && o.ctx && (gap < 0 || d < gap) {
			gap = d
		}
	}
	return gap
}

// better reports whether a should represent a merged finding over b.
func better(a, b *found) bool {
	if a.action != b.action {
		return a.action > b.action
	}
	// Two rules read the same value through context words: the nearer
	// word names it, whatever the rules' confidence ("MRN 1234567\n
	// member #: 123456789" holds a member id).
	if a.ctxGap >= 0 && b.ctxGap >= 0 && a.ctxGap != b.ctxGap {
		return a.ctxGap < b.ctxGap
	}
	if a.conf != b.conf {
		return a.conf > b.conf
	}
	if a.e-a.s != b.e-b.s {
		return a.e-a.s > b.e-b.s
	}
	return a.rule.idx < b.rule.idx
}

// release emits the text in [rel, safe) once no finding straddles the
// release point, merging overlapping findings.
func (s *scanner) release(ctx context.Context, safe int, out []byte, fs []Finding) ([]byte, []Finding, error) {
	if len(s.finds) == 0 {
		// Nothing found: the text up to safe goes out as it is.
		if from := max(s.rel, s.skip); safe > from && !s.findOnly {
			out = append(out, s.buf[from-s.bufBase:safe-s.bufBase]...)
		}
		s.rel = max(s.rel, safe)
		s.trim()
		return out, fs, nil
	}
	slices.SortFunc(s.finds, func(a, b found) int {
		if a.s != b.s {
			return a.s - b.s
		}
		return b.e - a.e
	})
	// Merge overlapping findings into groups.
	groups := s.groups[:0]
	for _, f := range s.finds {
		if n := len(groups); n > 0 && f.s < groups[n-1].e {
			g := &groups[n-1]
			// Findings of other extents merged into one are masked in
			// full: the representative's style (last4) applied to the
			// whole would show the end of another rule's value (the last
			// digits of an SSN inside a URL).
			clipped := g.clipped || f.clipped || f.s != g.s || f.e != g.e
			s0, e0, act := g.s, max(g.e, f.e), max(g.action, f.action)
			if better(&f, g) {
				*g = f
			}
			g.s, g.e, g.action, g.clipped = s0, e0, act, clipped
			continue
		}
		groups = append(groups, f)
	}
	for _, g := range groups {
		if g.s < safe && g.e > safe {
			safe = g.s
		}
	}
	// Groups not yet released wait in finds, which groups no longer
	// reads from.
	rest := s.finds[:0]
	for _, g := range groups {
		if g.e > safe {
			rest = append(rest, g)
			continue
		}
		if g.e <= s.skip {
			continue
		}
		start := g.s
		clipped := g.clipped
		if start < s.skip {
			start, clipped = s.skip, true
		}
		if from := max(s.rel, s.skip); !s.findOnly {
			out = append(out, s.buf[from-s.bufBase:start-s.bufBase]...)
		}
		f := Finding{Type: g.rule.Type, Rule: g.rule.ID, Start: start - s.skip, End: g.e - s.skip, Confidence: g.conf, Action: g.action}
		value := s.buf[start-s.bufBase : g.e-s.bufBase]
		switch {
		case s.findOnly:
		case g.action == ActionDivert && s.opts.Diverter != nil:
			rep, err := s.opts.Diverter.Divert(ctx, f, slices.Clone(value))
			if err != nil {
				s.failed = fmt.Errorf("diverting %s finding: %w", f.Type, err)
				return out, fs, s.failed
			}
			out = append(out, rep...)
		case g.action == ActionReport:
			out = append(out, value...)
		default:
			out = appendMasked(out, value, g.rule, g.rule.Type, clipped)
		}
		fs = append(fs, f)
		s.rel = g.e
	}
	if from := max(s.rel, s.skip); safe > from && !s.findOnly {
		out = append(out, s.buf[from-s.bufBase:safe-s.bufBase]...)
	}
	s.rel = max(s.rel, safe)
	s.finds, s.groups = rest, groups
	s.trim()
	return out, fs, nil
}

// trim drops buffered input and hits no longer needed.
func (s *scanner) trim() {
	keep := max(0, s.rel-lookAround)
	if s.owned && keep-s.bufBase > 4096 && keep-s.bufBase > len(s.buf)/2 {
		n := copy(s.buf, s.buf[keep-s.bufBase:])
		s.buf = s.buf[:n]
		s.bufBase = keep
	}
	limit := s.rel - s.e.maxBack
	hits := s.main.hits
	i := 0
	for i < len(hits) && hits[i].e < limit {
		i++
	}
	if i > 0 {
		s.main.hits = append(hits[:0], hits[i:]...)
		s.hitHint = [2]int{}
	}
}
