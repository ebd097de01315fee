package detectors

import "golang.org/x/sys/cpu"

// classifyVector is whether classify uses the AVX2 routine; tests turn it
// off to compare the two.
var classifyVector = cpu.X86.HasAVX2

// classify64AVX2 classifies the 64 bytes at p. It is in classify_amd64.s.
//
//go:noescape
func classify64AVX2(p *byte, starts *nibbleTables, m *blockMasks)

// classify fills m from b (at most 64 bytes); bits past len(b) are zero.
func classify(b []byte, starts *nibbleTables, m *blockMasks) {
	if !classifyVector {
		classifyGeneric(b, starts, m)
		return
	}
	if len(b) == 64 {
		classify64AVX2(&b[0], starts, m)
		return
	}
	var buf [64]byte
	copy(buf[:], b)
	classify64AVX2(&buf[0], starts, m)
	valid := validBits(len(b))
	m.space &= valid
	m.lower &= valid
	m.upper &= valid
	m.bad &= valid
	m.start &= valid
}
