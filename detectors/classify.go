package detectors

import "math/bits"

// The partitioner's block pass reads text 64 bytes at a time: it sorts
// the bytes into classes as bit masks (bit i for byte i, with a vector
// routine where the CPU has one), finds the words and whether each is
// inert with a few operations on the masks, and runs the keyword automaton
// only from the bytes where a keyword can start. The byte loop in
// partition.go stays the reference: it takes over wherever the block pass
// is not sure, and tests compare the two.

// blockMasks are the classes of up to 64 bytes.
type blockMasks struct {
	space uint64 // ASCII white space
	lower uint64 // a-z
	upper uint64 // A-Z
	bad   uint64 // anything else that is not light punctuation
	start uint64 // bytes on which the keyword automaton leaves its root
}

// nibbleTables encodes a set of bytes below 0x80 as two 16-byte tables
// indexed by the low and the high nibble of a byte: the byte is in the set
// when lo[c&15]&hi[c>>4] is not zero. This is the layout a vector shuffle
// looks bytes up in.
type nibbleTables struct {
	lo, hi [16]byte
}

func newNibbleTables(in func(c byte) bool) nibbleTables {
	var t nibbleTables
	for h := range 8 {
		t.hi[h] = 1 << h
		for l := range 16 {
			if in(byte(h<<4 | l)) {
				t.lo[l] |= 1 << h
			}
		}
	}
	return t
}

func (t *nibbleTables) has(c byte) bool { return t.lo[c&15]&t.hi[c>>4] != 0 }

// classifyGeneric fills m from b (at most 64 bytes); bits past len(b) are
// zero in every mask.
func classifyGeneric(b []byte, starts *nibbleTables, m *blockMasks) {
	*m = blockMasks{}
	for i, c := range b {
		bit := uint64(1) << i
		switch f := byteFlags[c]; {
		case f&fSpace != 0:
			m.space |= bit
		case f&fLower != 0:
			m.lower |= bit
		case f&fUpper != 0:
			m.upper |= bit
		case f&fBad != 0:
			m.bad |= bit
		}
		if starts.has(c) {
			m.start |= bit
		}
	}
}

// validBits returns a mask of the low n bits (n <= 64).
func validBits(n int) uint64 {
	if n >= 64 {
		return ^uint64(0)
	}
	return uint64(1)<<n - 1
}

// blockPass reads whole words from p[i] (at absolute position base+i) a
// window at a time, opening and closing islands as the byte loop would,
// and returns where the byte loop takes over: a word it cannot decide
// here (one holding a keyword, or too long), or the end of p. The caller
// is between words (p[i-1] is white space, or i starts the text), with
// nothing pending and the automaton at its root.
//
// The byte loop takes over at the start of a word, with the automaton at
// its root. That finds what the automaton would have found: a keyword
// that began in an earlier word and ends in this one or later would have
// shown as an output of the run of the automaton it began in, and every
// run so far ended with none.
func (pt *partitioner) blockPass(p []byte, i, base int) int {
	ac := pt.ac
	acEnd := i - 1 // the automaton is at its root or resting after p[acEnd]
	pos := i
	var m blockMasks
	for pos < len(p) {
		n := min(64, len(p)-pos)
		classify(p[pos:pos+n], &ac.starts, &m)
		nonSpace := ^m.space & validBits(n)
		// The window starts after white space: bit 0 starts a word if
		// it is not white space.
		wordStarts := nonSpace &^ (nonSpace << 1)
		// Only words that end inside the window are read here; one that
		// reaches its end is read again at the start of the next.
		limit := n
		if nonSpace>>(n-1)&1 != 0 {
			limit = 63 - bits.LeadingZeros64(wordStarts)
			if limit == 0 {
				// A word that fills the window: 64 bytes or more, or
				// one that may go on past the end of p. The byte loop
				// reads it.
				pt.closeGap(base + pos - 1)
				return pos
			}
		}
		// A word is inert when it is a run of letters and light
		// punctuation with a lower-case letter, or with one capital and
		// no lower-case letter. A word that is a run of some kind of
		// byte from its start carries, when its start bit is added, onto
		// the white space after it.
		good := nonSpace &^ m.bad
		goodEnds := (good + wordStarts&good) &^ good
		other := nonSpace &^ m.lower
		noLowerEnds := (other + wordStarts&other) &^ other
		letters := m.lower | m.upper
		// Where the automaton can leave its root: a starting byte that
		// is not a letter, or a starting letter after a non-letter.
		entries := m.start&^letters | m.start&letters&^(letters<<1)
		// Keywords first: the byte loop reads from the word where the
		// automaton may find one, and the words before it are settled
		// below.
		settle, stopped := limit, false
		for e := entries & validBits(limit); e != 0; e &= e - 1 {
			at := pos + bits.TrailingZeros64(e)
			if at <= acEnd {
				continue
			}
			if ac.pairEnds(p, at) {
				acEnd = at + 1
				continue
			}
			end, ok := ac.runFrom(p, at)
			if !ok {
				settle, stopped = startOfWord(wordStarts, at-pos), true
				break
			}
			acEnd = end
		}
		// The white space after each word to settle; in ordinary talk
		// every word is inert and no island is open: nothing to do.
		ends := m.space & (nonSpace << 1) & validBits(settle)
		if pt.open || ends&^(goodEnds&^noLowerEnds) != 0 {
			pt.settleWords(&m, base+pos, wordStarts, ends&^goodEnds, ends&goodEnds&noLowerEnds, settle)
		}
		if stopped {
			pt.closeGap(base + pos + settle - 1)
			return pos + settle
		}
		pos += limit
	}
	pt.closeGap(base + len(p) - 1)
	return len(p)
}

// settleWords opens and closes islands for the words of a window, at
// absolute position abs, that start before limit: the words before limit
// that end at bad have a byte that is not allowed, and those that end at
// noLower have no lower-case letter (inert with exactly one capital).
// Only words that are not inert change the islands, and an inert word
// closes an open one.
func (pt *partitioner) settleWords(m *blockMasks, abs int, wordStarts, bad, noLower uint64, limit int) {
	notInert := bad
	for nl := noLower; nl != 0; nl &= nl - 1 {
		we := bits.TrailingZeros64(nl)
		ws := startOfWord(wordStarts, we-1)
		if bits.OnesCount64(m.upper&validBits(we)>>ws) != 1 {
			notInert |= 1 << we
		}
	}
	settled := 0 // the words before settled are done
	for ni := notInert; ni != 0; ni &= ni - 1 {
		we := bits.TrailingZeros64(ni)
		ws := startOfWord(wordStarts, we-1)
		if wordStarts&validBits(ws)&^validBits(settled) != 0 {
			// An inert word came after the island.
			pt.closeIsland()
		}
		pt.closeGap(abs + ws - 1)
		pt.extendIsland(abs+ws, abs+we)
		settled = we
	}
	if wordStarts&validBits(limit)&^validBits(settled) != 0 {
		pt.closeIsland()
	}
}

// closeGap closes the open island if the white space after it, up to and
// including last, is as long as gapCap.
func (pt *partitioner) closeGap(last int) {
	if last-pt.islEnd >= gapCap {
		pt.closeIsland()
	}
}

// startOfWord returns the start of the word holding bit b, given the
// window's word starts.
func startOfWord(wordStarts uint64, b int) int {
	return 63 - bits.LeadingZeros64(wordStarts&validBits(b+1))
}

// pairEnds reports whether the automaton, started at its root on p[at],
// is back at its root or resting after p[at+1] with nothing found: the
// case of most words, decided without running it.
func (m *acMatcher) pairEnds(p []byte, at int) bool {
	if at+1 >= len(p) {
		return false
	}
	st := m.afterPair(p, at)
	return st == 0 || st == m.rest
}

// afterPair returns the automaton's row after it reads p[at] and p[at+1]
// from its root (outBit set if it found a keyword on the way).
func (m *acMatcher) afterPair(p []byte, at int) int32 {
	return m.pairNext[int(m.class[p[at]])*m.nclass+int(m.class[p[at+1]])]
}

// runFrom runs the automaton from its root over p[at:], p[at] a starting
// byte, until it is back at its root or resting. It returns where it
// stopped, and false if it found a keyword or reached the end of p first.
func (m *acMatcher) runFrom(p []byte, at int) (int, bool) {
	if at+1 >= len(p) {
		return len(p), false
	}
	next, class, rest := m.next, &m.class, m.rest
	st := m.afterPair(p, at)
	for k := at + 1; ; {
		if st < 0 {
			return k, false
		}
		if st == 0 || st == rest {
			return k, true
		}
		if k++; k == len(p) {
			return len(p), false
		}
		st = next[st+int32(class[p[k]])]
	}
}
