//go:build !amd64

package detectors

// classify fills m from b (at most 64 bytes); bits past len(b) are zero.
func classify(b []byte, starts *nibbleTables, m *blockMasks) {
	classifyGeneric(b, starts, m)
}

// classifyVector is whether classify uses a vector routine: not on this
// architecture.
const classifyVector = false
