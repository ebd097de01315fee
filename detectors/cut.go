package detectors

import (
	"bytes"
	"slices"
	"sync"
)

// cutSearch is how far past near SafeCut looks for a cut.
const cutSearch = 256 << 10

// SafeCut returns the start of a line at or after near where text can be
// cut without changing what the engine finds: for p := e.SafeCut(text,
// near) and any continuation rest of text, Redact of text[:p] followed by
// Redact of text[p:]+rest (its offsets shifted by p) equals Redact of
// text+rest, with options that have no Preceding and no Strict. It returns
// -1 when it finds no such place within 256 KiB of near, and always for
// engines with configured rules that see all text.
//
// A cut is safe when the scans of the two sides cannot see each other: the
// line before it ends with a plain word (no island is open), a newline
// belongs to no keyword (the keyword automaton is back at its root), no
// keyword or context word lies within the reach of the islands on either
// side, and the islands next to the cut are short enough to be scanned
// whole, on their own bytes. Every check is conservative: a word that
// might hold a keyword counts as one, so the islands SafeCut sees are
// never smaller than the partitioner's.
func (e *Engine) SafeCut(text []byte, near int) int {
	if len(e.lineRules) > 0 || e.ac.class['\n'] != 0 || near < 0 || near >= len(text) {
		return -1
	}
	// Most text has a cut within a few lines: look close first.
	for _, span := range []int{2 << 10, 8 << 10, 32 << 10} {
		if p := e.safeCut(text, near, span); p >= 0 {
			return p
		}
	}
	return e.safeCut(text, near, cutSearch)
}

// safeCut is SafeCut looking at most span bytes past near.
func (e *Engine) safeCut(text []byte, near, span int) int {
	kwLook := 0
	for _, l := range e.kwLook {
		kwLook = max(kwLook, l)
	}
	fwd := e.maxAfter + maxKeyword         // how far past a window's end hits count
	reach := kwLook + lookAround + fwd + 1 // islands ending this far before a cut cannot see it
	back := max(reach, e.maxBack)
	// An island that ends within reach of a cut and began before lo is
	// seen from lo on (a word cut at lo counts as long): still softCap
	// long or more, too long to be scanned whole.
	lo := max(0, near-back-softCap)
	hi := min(len(text), near+span+2*softCap+fwd+2*lookAround)

	// The scratch slices are reused: veil scan cuts every block, and
	// fresh memory costs a page fault per 4 KiB.
	c := cutScans.Get().(*cutScan)
	defer func() {
		c.text = nil
		cutScans.Put(c)
	}()
	c.ends = rawHitEnds(e.ac, text, max(0, lo-maxKeyword), hi, c.ends[:0])
	ends := c.ends
	hitIn := func(from, to int) bool { // a keyword occurrence ends in [from, to]
		i, _ := slices.BinarySearch(ends, from)
		return i < len(ends) && ends[i] <= to
	}
	*c = cutScan{text: text, lo: lo, hi: hi, ends: ends, plainEnds: c.plainEnds[:0], isl: c.isl[:0]}
	c.words(hitIn)

	end := min(hi, near+span+1)
	for p := max(near, 1); p < end; p++ {
		j := bytes.IndexByte(text[p-1:end-1], '\n')
		if j < 0 {
			return -1
		}
		p += j // the line after the newline at p-1+j
		if c.firstPlain >= 0 && c.firstPlain <= p-reach && c.ok(p, hitIn, e.maxBack, kwLook, reach, fwd) {
			return p
		}
	}
	return -1
}

// rawHitEnds appends to ends the end of every occurrence of a keyword in
// text[from:to], whatever the letters around it: a superset of the hits
// the partitioner keeps. The automaton starts at its root at from.
func rawHitEnds(m *acMatcher, text []byte, from, to int, ends []int) []int {
	st := int32(0)
	for i := from; i < to; i++ {
		st = m.next[st+int32(m.class[text[i]])]
		if st < 0 {
			st &^= outBit
			if len(m.out[st/int32(m.nclass)]) > 0 {
				ends = append(ends, i+1)
			}
		}
	}
	return ends
}

// cutIsland is a run of words that are not plain, as SafeCut sees it.
type cutIsland struct {
	s, e int
	long bool // holds a long word or a word cut by the scanned range
	hit  bool // a keyword occurrence ends in it
}

// cutScans holds cutScans for reuse.
var cutScans = sync.Pool{New: func() any { return new(cutScan) }}

// cutScan holds SafeCut's view of the words of text[lo:hi].
type cutScan struct {
	text       []byte
	lo, hi     int
	ends       []int // keyword ends, from rawHitEnds
	plainEnds  []int // ends of the plain words, in order
	firstPlain int   // end of the first plain word, -1 if none
	isl        []cutIsland
}

// words classifies the words of text[lo:hi] as the partitioner does,
// counting a word as part of an island whenever in doubt.
func (c *cutScan) words(hitIn func(int, int) bool) {
	text := c.text
	c.firstPlain = -1
	open := false
	for i := c.lo; i < c.hi; {
		if byteFlags[text[i]]&fSpace != 0 {
			i++
			continue
		}
		ws := i
		var fl uint8
		upper := 0
		for i < c.hi && byteFlags[text[i]]&fSpace == 0 {
			f := byteFlags[text[i]]
			fl |= f
			upper += int(f>>3) & 1
			i++
		}
		whole := (ws == 0 || ws > c.lo || byteFlags[text[ws-1]]&fSpace != 0) && i < c.hi
		long := i-ws >= longWord-1
		if whole && !long && fl&fBad == 0 && (fl&fLower != 0 || upper == 1) && !hitIn(ws+1, i) {
			if c.firstPlain < 0 {
				c.firstPlain = i
			}
			c.plainEnds = append(c.plainEnds, i)
			open = false
			continue
		}
		if !open {
			c.isl = append(c.isl, cutIsland{s: ws})
			open = true
		}
		is := &c.isl[len(c.isl)-1]
		is.e = i
		is.long = is.long || long || !whole
	}
	for k := range c.isl {
		c.isl[k].hit = hitIn(c.isl[k].s+1, c.isl[k].e)
	}
}

// ok checks a cut at p, the start of a line.
func (c *cutScan) ok(p int, hitIn func(int, int) bool, maxBack, kwLook, reach, fwd int) bool {
	if p+lookAround+4 >= c.hi {
		return false // an island just after p may lie past what was seen
	}
	// The last word before p must be plain: no island is open at p.
	j := p - 1
	for j > c.lo && byteFlags[c.text[j-1]]&fSpace != 0 {
		j--
	}
	if _, found := slices.BinarySearch(c.plainEnds, j); !found {
		return false
	}
	// No keyword that islands after p could see behind them.
	if hitIn(p-maxBack, p-1) {
		return false
	}
	k, _ := slices.BinarySearchFunc(c.isl, p-reach, func(is cutIsland, t int) int { return is.e - t })
	for ; k < len(c.isl) && c.isl[k].s < p+lookAround+4; k++ {
		is := c.isl[k]
		if is.long || is.e-is.s >= softCap {
			return false // may be cut for size: its parts see 64 bytes more
		}
		if is.s < p {
			// Before the cut: its window must end before p, and no hit
			// after p may be in its reach.
			w1 := is.e
			if is.hit {
				w1 += kwLook
			}
			if w1 >= p || w1+fwd >= c.hi || hitIn(p, w1+fwd) {
				return false
			}
			continue
		}
		// Just after the cut: scanned on its own bytes only when no hit
		// is near it.
		if is.e+fwd >= c.hi || hitIn(p-maxBack, is.e+fwd) {
			return false
		}
	}
	return true
}
