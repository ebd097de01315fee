package detectors

import "strings"

// The partitioner splits text into segments, the only places patterns run.
//
// Text is a sequence of words (runs of bytes other than ASCII white space).
// A word is inert when it holds only ASCII letters and light punctuation
// (' " , . ! ? ; : ( ) -), a lower-case letter or a single letter (upper-case
// words like "NWBK" can be part of account numbers), no keyword or context
// word of any rule, and is shorter than 512 bytes. Inert words can be neither values nor part of one: no
// pattern runs on them. The other words, with the white space between them,
// form islands: one segment each. Islands are cut so that none grows past
// about 1 KiB: before a word that starts 512 bytes or more after the island
// start, inside a long word at 1024 bytes, and at any gap of 512 bytes of
// white space. Cuts made for size are "forced": the patterns of the two
// sides then see 64 bytes of each other, and values cut there are masked
// in full.
//
// An island holding a context word of a rule whose values are words (a
// name, an address) or a keyword of a configured rule is scanned with the
// text after it, up to the rule's reach, so values made of plain words are
// found too.
//
// Every decision depends only on bytes already seen, so a stream and a
// one-shot scan cut text in exactly the same places.
//
// feedWords reads a byte at a time; between words it hands over to the
// block pass (classify.go), which reads whole words 64 bytes at a time
// and hands back wherever it is not sure. The two cut text the same way.
//
// The all-text partition (for configured rules without keywords) treats
// every word as non-inert: its segments are the same size-bounded windows
// over all text.
const (
	softCap    = 512
	hardCap    = 1024
	longWord   = 512
	gapCap     = 512
	lookAround = 64
	skipRetry  = 32 // bytes the byte loop reads before the block pass is tried again
)

// segment is a span of text patterns run on, in absolute offsets.
type segment struct {
	a, b                   int
	forcedStart, forcedEnd bool
	all                    bool // from the all-text partition
	look                   int  // scanned this far past b (0: not known yet)
}

// hit is a keyword or context word found in the text.
type hit struct {
	s, e int
	kw   int32
}

// Byte flags.
const (
	fSpace = 1 << iota // ASCII white space
	fBad               // not a letter or light punctuation: the word is not inert
	fLower             // a-z
	fUpper             // A-Z (bit 3: counted)
	fLong              // word state: longer than longWord
	fHit               // word state: a keyword ends in it
)

// byteFlags classifies every byte for the partitioner.
var byteFlags = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
			t[c] = fSpace
		case c >= 'a' && c <= 'z':
			t[c] = fLower
		case c >= 'A' && c <= 'Z':
			t[c] = fUpper
		case strings.IndexByte(`'",.!?;:()-`, byte(c)) >= 0:
			t[c] = 0
		default:
			t[c] = fBad
		}
	}
	return t
}()

func letterByte(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

type partitioner struct {
	ac  *acMatcher // nil for the all-text partition
	all bool
	// byteLoopOnly turns the block pass off, for tests that compare.
	byteLoopOnly bool

	st   int32
	ring [64]byte // the last bytes, for keyword boundaries
	held []hit    // hits waiting for the next byte (word-end check)

	inWord    bool
	wordStart int
	wflags    uint8 // byte flags seen in the word, and fLong, fHit
	wupper    int   // upper-case letters in the word
	pending   bool  // held is not empty

	open        bool
	islStart    int
	islEnd      int
	forcedStart bool

	segs []segment
	hits []hit
}

// reused returns a fresh partitioner of the same kind that keeps pt's
// buffers.
func (pt *partitioner) reused() partitioner {
	return partitioner{ac: pt.ac, all: pt.all, held: pt.held[:0], segs: pt.segs[:0], hits: pt.hits[:0]}
}

// feed processes p, whose first byte is at absolute position base.
func (pt *partitioner) feed(p []byte, base int) {
	if pt.ac == nil {
		pt.feedWords(p, base, nil, nil, 0, 0)
	} else {
		pt.feedWords(p, base, pt.ac.next, &pt.ac.class, int32(pt.ac.nclass), pt.ac.rest)
	}
	// The ring keeps the last 64 bytes at their positions modulo 64.
	tail := p[max(0, len(p)-64):]
	n := copy(pt.ring[(base+len(p)-len(tail))&63:], tail)
	copy(pt.ring[:], tail[n:])
}

// feedWords is feed's loop. The word being read lives in locals; the
// struct is brought up to date around the (rare) calls that read it.
func (pt *partitioner) feedWords(p []byte, base int, next []int32, class *[256]uint8, ncls, rest int32) {
	st := pt.st
	inWord, wordStart, wflags, wupper := pt.inWord, pt.wordStart, pt.wflags, pt.wupper
	// longAt is the index in p at which the current word becomes long.
	longAt := len(p) + 1
	if inWord {
		longAt = wordStart + longWord - 1 - base
	}
	// fastUntil is where the fast path below ends: at longAt inside a
	// word with no keyword pending, else at once.
	fastUntil := -1
	if inWord && !pt.pending {
		fastUntil = longAt
	}
	skipAfter := 0 // the block pass is not tried before this index
	if pt.byteLoopOnly || (pt.ac != nil && !pt.ac.asciiStarts) {
		skipAfter = len(p)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		// Fast path: a lower-case letter inside a word, nothing pending.
		if c-'a' < 26 && i < fastUntil {
			wflags |= fLower
			// In the rest state the automaton stays put until the
			// letters end.
			if next != nil && st != rest {
				st = next[st+int32(class[c])]
				if st < 0 {
					st &^= outBit
					pt.inWord, pt.wordStart, pt.wflags, pt.wupper = inWord, wordStart, wflags, wupper
					pt.hitsAt(pt.ac.out[st/ncls], base+i+1, p, base)
					if pt.pending {
						fastUntil = -1
					}
				}
				continue
			}
			// Nothing to track until the run of lower-case letters ends.
			lim := min(len(p), fastUntil)
			k := i + 1
			for k < lim && p[k]-'a' < 26 {
				k++
			}
			i = k - 1
			continue
		}
		if pt.pending {
			pt.inWord, pt.wordStart, pt.wflags, pt.wupper = inWord, wordStart, wflags, wupper
			pt.confirm(letterByte(c))
			wflags = pt.wflags
			if inWord {
				fastUntil = longAt
			}
		}
		f := byteFlags[c]
		if f&fSpace != 0 {
			if inWord && !pt.open && !pt.all && wflags&(fBad|fLong|fHit) == 0 && (wflags&fLower != 0 || wupper == 1) {
				// An inert word with no island open: nothing to record.
				inWord = false
				longAt, fastUntil = len(p)+1, -1
			} else if inWord {
				pt.inWord, pt.wordStart, pt.wflags, pt.wupper = inWord, wordStart, wflags, wupper
				pt.endWord(base + i)
				inWord = false
				longAt, fastUntil = len(p)+1, -1
			} else {
				pt.closeGap(base + i)
			}
		} else {
			if !inWord {
				inWord, wordStart, wflags, wupper = true, base+i, 0, 0
				longAt = i + longWord - 1
				if !pt.pending {
					fastUntil = longAt
				}
			}
			wflags |= f
			wupper += int(f>>3) & 1
			if i >= longAt {
				if wflags&fLong == 0 {
					wflags |= fLong
					if !pt.open {
						pt.open, pt.islStart, pt.forcedStart = true, wordStart, false
					}
				}
				if base+i-pt.islStart >= hardCap && c&0xC0 != 0x80 {
					pos := base + i
					pt.emit(pos, true)
					pt.islStart, pt.islEnd, pt.forcedStart = pos, pos, true
				}
			}
		}
		if next != nil {
			st = next[st+int32(class[c])]
			if st < 0 {
				st &^= outBit
				pt.inWord, pt.wordStart, pt.wflags, pt.wupper = inWord, wordStart, wflags, wupper
				pt.hitsAt(pt.ac.out[st/ncls], base+i+1, p, base)
				if pt.pending {
					fastUntil = -1
				}
			}
			// Between words, with no keyword under way: read the words
			// ahead a block at a time.
			if f&fSpace != 0 && st == 0 && !pt.pending && i >= skipAfter {
				if j := pt.blockPass(p, i+1, base); j > i+1 {
					i = j - 1
				} else {
					// The next word needs the byte loop: wait a few
					// words before trying again.
					skipAfter = i + skipRetry
				}
			}
		}
	}
	pt.st = st
	pt.inWord, pt.wordStart, pt.wflags, pt.wupper = inWord, wordStart, wflags, wupper
}

// hitsAt notes the keywords in out, which end at pos, unless a keyword
// starting with a letter follows a letter (the middle of a word). The hit
// is confirmed with the next byte.
func (pt *partitioner) hitsAt(out []int32, pos int, p []byte, base int) {
	for _, kw := range out {
		start := pos - pt.ac.lens[kw]
		if pt.ac.first[kw] && start > 0 {
			var prev byte
			if start-1 >= base {
				prev = p[start-1-base]
			} else {
				prev = pt.ring[(start-1)&63]
			}
			if letterByte(prev) {
				continue
			}
		}
		pt.held = append(pt.held, hit{start, pos, kw})
		pt.pending = true
	}
}

// confirm records the held hits, dropping those that end with a letter
// when the next byte is a letter too.
func (pt *partitioner) confirm(nextLetter bool) {
	for _, h := range pt.held {
		if nextLetter && pt.ac.last[h.kw] {
			continue
		}
		pt.hits = append(pt.hits, h)
		if pt.inWord && pt.ac.island[h.kw] {
			pt.wflags |= fHit
		}
	}
	pt.held = pt.held[:0]
	pt.pending = false
}

// endWord classifies the word ending at end.
func (pt *partitioner) endWord(end int) {
	pt.inWord = false
	if !pt.all && pt.wflags&(fBad|fLong|fHit) == 0 && (pt.wflags&fLower != 0 || pt.wupper == 1) {
		pt.closeIsland()
		return
	}
	pt.extendIsland(pt.wordStart, end)
}

// closeIsland emits the open island, if any: an inert word, or white space
// as long as gapCap, came after it.
func (pt *partitioner) closeIsland() {
	if pt.open {
		pt.emit(pt.islEnd, false)
		pt.open = false
	}
}

// extendIsland adds the word [start, end), not inert, to the open island,
// or opens one with it; an island as long as softCap is cut before it.
func (pt *partitioner) extendIsland(start, end int) {
	switch {
	case !pt.open:
		pt.open, pt.islStart, pt.forcedStart = true, start, false
	case start-pt.islStart >= softCap:
		pt.emit(pt.islEnd, true)
		pt.islStart, pt.forcedStart = start, true
	}
	pt.islEnd = end
}

func (pt *partitioner) emit(end int, forced bool) {
	if end > pt.islStart {
		pt.segs = append(pt.segs, segment{a: pt.islStart, b: end, forcedStart: pt.forcedStart, forcedEnd: forced, all: pt.all})
	}
}

// finish ends the text at end.
func (pt *partitioner) finish(end int) {
	if len(pt.held) > 0 {
		pt.confirm(false)
	}
	if pt.inWord {
		pt.endWord(end)
	}
	pt.closeIsland()
}

// safe returns the position before which the partitioner will emit no
// further segment.
func (pt *partitioner) safe(n int) int {
	switch {
	case pt.open:
		return pt.islStart
	case pt.inWord:
		return pt.wordStart
	}
	return n
}
