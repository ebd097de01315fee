package detectors

import (
	"math/rand/v2"
	"testing"
)

// TestClassifyMatchesGeneric checks the vector routine against the byte
// loop on every byte value, at every length up to 64.
func TestClassifyMatchesGeneric(t *testing.T) {
	if !classifyVector {
		t.Skip("no vector routine on this CPU: classify is the byte loop")
	}
	e := mustCompile(t, Config{})
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 64)
	for round := range 20000 {
		for i := range buf {
			switch {
			case round < 4: // every byte value, 64 at a time
				buf[i] = byte(round*64 + i)
			case r.IntN(2) == 0:
				buf[i] = byte(r.IntN(256))
			default:
				buf[i] = " \teaZ9.,-'(#\x80\xff\x0b"[r.IntN(15)]
			}
		}
		n := 64
		if round >= 4 {
			n = r.IntN(65)
		}
		var got, want blockMasks
		classify(buf[:n], &e.ac.starts, &got)
		classifyGeneric(buf[:n], &e.ac.starts, &want)
		if got != want {
			t.Fatalf("round %d, %d bytes %q:\n got %+v\nwant %+v", round, n, buf[:n], got, want)
		}
	}
}

// TestStartsAreTheAutomatonsStarts checks the starting-byte tables against
// the automaton they were built from.
func TestStartsAreTheAutomatonsStarts(t *testing.T) {
	e := mustCompile(t, Config{})
	ac := e.ac
	letters := 0
	for c := range 128 {
		to := ac.next[ac.class[c]]
		want := to < 0 || (to != 0 && to != ac.rest)
		if got := ac.starts.has(byte(c)); got != want {
			t.Errorf("byte %q: starts %v, automaton %v", rune(c), got, want)
		}
		if want && letterByte(byte(c)) {
			letters++
		}
	}
	// The defaults have keywords starting with most letters: a table
	// that lost them would skip keywords.
	if letters < 20 {
		t.Errorf("only %d starting letters", letters)
	}
	for c := 128; c < 256; c++ {
		if ac.starts.has(byte(c)) {
			t.Errorf("byte %#x above ASCII in the table", c)
		}
	}
}
