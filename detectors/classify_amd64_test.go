package detectors

import "testing"

// TestBlockPassWithByteLoopClassifier runs the block pass comparison with
// the classifier that machines without AVX2 use.
func TestBlockPassWithByteLoopClassifier(t *testing.T) {
	if !classifyVector {
		t.Skip("this machine already uses the byte-loop classifier")
	}
	classifyVector = false
	defer func() { classifyVector = true }()
	TestBlockPassMatchesByteLoop(t)
}
