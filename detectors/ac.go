package detectors

// acMatcher is an Aho-Corasick automaton over ASCII-case-folded keywords,
// compiled to a dense transition table over byte classes so that each byte
// of text costs one table lookup.
type acMatcher struct {
	class  [256]uint8 // byte -> class; 0 for bytes in no keyword
	nclass int
	next   []int32   // row + class -> next row (row = state*nclass), | outBit when it has output
	out    [][]int32 // state -> keyword indexes ending here
	lens   []int     // keyword index -> length in bytes
	first  []bool    // keyword index -> starts with an ASCII letter
	last   []bool    // keyword index -> ends with an ASCII letter
}

// newACMatcher builds the automaton for keywords (already lower-cased,
// non-empty).
func newACMatcher(keywords []string) *acMatcher {
	m := &acMatcher{}
	n := 1
	for _, kw := range keywords {
		m.lens = append(m.lens, len(kw))
		m.first = append(m.first, letterByte(kw[0]))
		m.last = append(m.last, letterByte(kw[len(kw)-1]))
		for i := 0; i < len(kw); i++ {
			c := lower(kw[i])
			if m.class[c] == 0 {
				m.class[c] = uint8(n)
				n++
			}
		}
	}
	for c := 'A'; c <= 'Z'; c++ {
		m.class[c] = m.class[c+'a'-'A']
	}
	m.nclass = n
	// Trie: child holds n entries per node; 0 is "no child" (the root is
	// no one's child).
	type node struct {
		fail int32
		out  []int32
	}
	size := 1
	for _, kw := range keywords {
		size += len(kw)
	}
	nodes := make([]node, 1, size)
	child := make([]int32, n, size*n)
	for ki, kw := range keywords {
		s := int32(0)
		for i := 0; i < len(kw); i++ {
			k := int(s)*n + int(m.class[lower(kw[i])])
			nx := child[k]
			if nx == 0 {
				nodes = append(nodes, node{})
				nx = int32(len(nodes) - 1)
				child[k] = nx
				child = append(child, make([]int32, n)...)
			}
			s = nx
		}
		nodes[s].out = append(nodes[s].out, int32(ki))
	}
	// The breadth-first pass turns child into the transition table in
	// place: row s is read only while s is being filled, and failure links
	// point to rows already done.
	m.next = child[:len(nodes)*n]
	m.out = make([][]int32, len(nodes))
	hasOut := make([]bool, len(nodes))
	// Breadth-first: fill transitions and failure links.
	queue := make([]int32, 1, len(nodes))
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if s != 0 {
			f := nodes[s].fail
			nodes[s].out = append(nodes[s].out, nodes[f].out...)
		}
		m.out[s] = nodes[s].out
		hasOut[s] = len(nodes[s].out) > 0
		for cl := 0; cl < n; cl++ {
			if nx := child[int(s)*n+cl]; nx != 0 && cl != 0 {
				if s == 0 {
					nodes[nx].fail = 0
				} else {
					nodes[nx].fail = m.next[int(nodes[s].fail)*n+cl]
				}
				m.next[int(s)*n+cl] = nx
				queue = append(queue, nx)
			} else if s != 0 {
				m.next[int(s)*n+cl] = m.next[int(nodes[s].fail)*n+cl]
			}
		}
	}
	// Store rows rather than states: one multiplication less per byte.
	for k, nx := range m.next {
		m.next[k] = nx * int32(n)
		if hasOut[nx] {
			m.next[k] |= outBit
		}
	}
	return m
}

// outBit marks a transition into a state with output.
const outBit = -1 << 31

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
