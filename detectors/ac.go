package detectors

// acMatcher is an Aho-Corasick automaton over ASCII-case-folded keywords,
// compiled to a dense transition table over byte classes so that each byte
// of text costs one table lookup.
//
// It knows word boundaries: a keyword that starts with an ASCII letter is
// only matched where the byte before it is not a letter (the partitioner
// drops the others anyway). The automaton then leaves the keyword states
// a byte or two into an ordinary word and rests in a state of its own,
// rest, until the letters end, so inside words the partitioner need not
// step it at all. The start state is the root with "no letter before".
type acMatcher struct {
	class  [256]uint8 // byte -> class; 0 other non-letters, 1 other letters
	nclass int
	next   []int32   // row + class -> next row (row = state*nclass), | outBit when it has output
	out    [][]int32 // state -> keyword indexes ending here
	lens   []int     // keyword index -> length in bytes
	first  []bool    // keyword index -> starts with an ASCII letter
	last   []bool    // keyword index -> ends with an ASCII letter
	island []bool    // keyword index -> its word is an island (default true)
	rest   int32     // row of the state after a letter with no keyword under way
	// starts holds the bytes below 0x80 on which the automaton leaves its
	// root for a keyword state, for the partitioner's block pass.
	starts nibbleTables
	// asciiStarts: no keyword starts with a byte above ASCII, which the
	// tables above cannot hold. The partitioner's block pass needs it.
	asciiStarts bool
	// pairNext is the row the automaton is in after it reads, from its
	// root, a byte of class c1 and one of class c2 (at c1*nclass+c2),
	// with outBit set if it found a keyword on the way.
	pairNext []int32
}

// newACMatcher builds the automaton for keywords (already lower-cased,
// non-empty).
func newACMatcher(keywords []string) *acMatcher {
	m := &acMatcher{}
	// Class 0 holds the bytes in no keyword that are not letters, class 1
	// the letters in no keyword: the automaton must tell them apart.
	for c := 'a'; c <= 'z'; c++ {
		m.class[c] = 1
	}
	n := 2
	for _, kw := range keywords {
		m.lens = append(m.lens, len(kw))
		m.first = append(m.first, letterByte(kw[0]))
		m.last = append(m.last, letterByte(kw[len(kw)-1]))
		m.island = append(m.island, true)
		for i := 0; i < len(kw); i++ {
			c := lower(kw[i])
			if m.class[c] <= 1 {
				m.class[c] = uint8(n)
				n++
			}
		}
	}
	for c := 'A'; c <= 'Z'; c++ {
		m.class[c] = m.class[c+'a'-'A']
	}
	m.nclass = n
	letterClass := make([]bool, n)
	for c := range 256 {
		if letterByte(byte(c)) {
			letterClass[m.class[c]] = true
		}
	}

	// The trie: state 0 is its root, child holds n entries per state and
	// 0 means "no child" (the root is no one's child).
	type node struct {
		fail  int32
		out   []int32
		depth int
	}
	size := 2
	for _, kw := range keywords {
		size += len(kw)
	}
	nodes := make([]node, 1, size)
	// The trie is built in next itself: until the breadth-first pass below
	// reaches a state, its row holds only its children (0: none; the root
	// is no one's child).
	next := make([]int32, n, size*n)
	for ki, kw := range keywords {
		s := int32(0)
		for i := 0; i < len(kw); i++ {
			k := int(s)*n + int(m.class[lower(kw[i])])
			nx := next[k]
			if nx == 0 {
				nodes = append(nodes, node{depth: nodes[s].depth + 1})
				nx = int32(len(nodes) - 1)
				next[k] = nx
				next = append(next, make([]int32, n)...)
			}
			s = nx
		}
		nodes[s].out = append(nodes[s].out, int32(ki))
	}
	// The rest state: no keyword under way, and the last byte a letter.
	rest := int32(len(nodes))
	nodes = append(nodes, node{})
	next = append(next, make([]int32, n)...)
	// noChild is where a byte of class cl leads when nothing is under way.
	noChild := func(cl int) int32 {
		if letterClass[cl] {
			return rest
		}
		return 0
	}

	// next is filled breadth first. A state's failure link is the longest
	// proper suffix of its path that is in the trie and could be a match
	// where it stands: it starts with a non-letter, or follows one. When
	// there is none, the link is the root or rest, by the path's last
	// byte. Links point to shallower states, whose rows are done.
	m.out = make([][]int32, len(nodes))
	hasOut := make([]bool, len(nodes))
	queue := make([]int32, 0, len(nodes))
	for cl := range n {
		if nx := next[cl]; nx != 0 {
			nodes[nx].fail = noChild(cl)
			queue = append(queue, nx)
		} else {
			next[cl] = noChild(cl)
		}
	}
	for cl := range n {
		if letterClass[cl] {
			next[int(rest)*n+cl] = rest
		} else {
			next[int(rest)*n+cl] = next[cl]
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		f := nodes[s].fail
		nodes[s].out = append(nodes[s].out, nodes[f].out...)
		m.out[s] = nodes[s].out
		hasOut[s] = len(nodes[s].out) > 0
		for cl := range n {
			if nx := next[int(s)*n+cl]; nx != 0 {
				nodes[nx].fail = next[int(f)*n+cl]
				queue = append(queue, nx)
			} else {
				next[int(s)*n+cl] = next[int(f)*n+cl]
			}
		}
	}
	// Store rows rather than states: one multiplication less per byte.
	for k, nx := range next {
		next[k] = nx * int32(n)
		if hasOut[nx] {
			next[k] |= outBit
		}
	}
	m.next = next
	m.rest = rest * int32(n)
	m.starts = newNibbleTables(m.leavesRoot)
	m.asciiStarts = true
	for c := 128; c < 256; c++ {
		if m.leavesRoot(byte(c)) {
			m.asciiStarts = false
		}
	}
	m.pairNext = make([]int32, n*n)
	for c1 := range n {
		s1 := next[c1]
		for c2 := range n {
			s2 := next[s1&^outBit+int32(c2)]
			m.pairNext[c1*n+c2] = s2 | s1&outBit
		}
	}
	return m
}

// leavesRoot reports whether the automaton, at its root, reads c into a
// keyword state or finds a keyword.
func (m *acMatcher) leavesRoot(c byte) bool {
	to := m.next[m.class[c]]
	return to < 0 || (to != 0 && to != m.rest)
}

// outBit marks a transition into a state with output.
const outBit = -1 << 31

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
