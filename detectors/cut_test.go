package detectors

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
)

// checkCut fails t unless Redact of text equals Redact of text[:p]
// followed by Redact of text[p:], findings included.
func checkCut(t testing.TB, e *Engine, text []byte, p int) {
	t.Helper()
	ctx := context.Background()
	whole, wf, err := e.Redact(ctx, text, RedactOptions{})
	if err != nil {
		t.Fatalf("Redact: %v", err)
	}
	a, af, err := e.Redact(ctx, text[:p], RedactOptions{})
	if err != nil {
		t.Fatalf("Redact: %v", err)
	}
	b, bf, err := e.Redact(ctx, text[p:], RedactOptions{})
	if err != nil {
		t.Fatalf("Redact: %v", err)
	}
	for i := range bf {
		bf[i].Start += p
		bf[i].End += p
	}
	if got := append(a, b...); !bytes.Equal(got, whole) {
		i := 0
		for i < len(got) && i < len(whole) && got[i] == whole[i] {
			i++
		}
		t.Fatalf("cut at %d of %d changes the output from byte %d", p, len(text), i)
	}
	if !slices.Equal(append(af, bf...), wf) {
		t.Fatalf("cut at %d of %d changes the findings", p, len(text))
	}
}

// corpusText joins the texts of the labelled corpus, one per line.
func corpusText(t *testing.T) []byte {
	all, _ := loadCorpus(t)
	var b bytes.Buffer
	for _, l := range all {
		b.WriteString(strings.ReplaceAll(l.Text, "\n", " "))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func TestSafeCut(t *testing.T) {
	e := mustCompile(t, Config{})
	tests := []struct {
		name string
		text []byte
	}{
		{"chat", chatText(1 << 20)},
		{"corpus", corpusText(t)},
		{"corpus twice", bytes.Repeat(corpusText(t), 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cuts := 0
			for near := 0; near < len(tt.text); near += len(tt.text)/13 + 1 {
				p := e.SafeCut(tt.text, near)
				if p < 0 {
					continue
				}
				if p < near || p > len(tt.text) || tt.text[p-1] != '\n' {
					t.Fatalf("SafeCut(%d) = %d: not a line start at or after near", near, p)
				}
				checkCut(t, e, tt.text, p)
				// The cut holds for any continuation: decided on a prefix.
				if q := e.SafeCut(tt.text[:min(len(tt.text), p+4096)], near); q >= 0 {
					checkCut(t, e, tt.text, q)
				}
				cuts++
			}
			if cuts == 0 {
				t.Errorf("no safe cut found in %d bytes", len(tt.text))
			}
		})
	}
}

// TestSafeCutNearLongIslands puts cuts near islands about softCap long,
// made of lines of words that are not inert, which the partitioner cuts
// for size, and near their ends.
func TestSafeCutNearLongIslands(t *testing.T) {
	e := mustCompile(t, Config{})
	plain := strings.Repeat("thanks so much for waiting with us today\n", 80)
	for _, n := range []int{40, 56, 60, 64, 70, 120} {
		island := strings.Repeat("4111-1111 ", n) // one island: no plain word, no newline
		text := []byte(plain + island + "\n" + plain + "9999 " + island + "ok\n" + plain)
		cuts := 0
		for near := 0; near < len(text); near += 41 {
			if p := e.SafeCut(text, near); p >= 0 {
				checkCut(t, e, text, p)
				cuts++
			}
		}
		if cuts == 0 {
			t.Errorf("island of %d bytes: no cut at all", len(island))
		}
	}
}

func TestSafeCutRefuses(t *testing.T) {
	user := userRule(1, func(r *RuleSpec) { r.Keywords = nil; r.Context = ContextSpec{} })
	tests := []struct {
		name string
		cfg  Config
		text string
		near int
	}{
		{"rules that see all text", Config{Rules: []RuleSpec{user}}, strings.Repeat("hello there friend\n", 2000), 100},
		{"no newline", Config{}, strings.Repeat("hello there friend ", 2000), 100},
		{"near out of range", Config{}, "hello\nthere\n", 20},
		{"keywords everywhere", Config{}, strings.Repeat("call the doctor\n", 4000), 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustCompile(t, tt.cfg)
			if p := e.SafeCut([]byte(tt.text), tt.near); p != -1 {
				t.Errorf("SafeCut = %d, want -1", p)
			}
		})
	}
}

func FuzzSafeCut(f *testing.F) {
	e, err := Compile(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(strings.Repeat("hello there\n", 40)+"my card is 4111 1111 1111 1111\n"+strings.Repeat("ok fine\n", 40)), 200, uint8(1), uint16(300))
	f.Add([]byte(strings.Repeat("[12:00] ok thanks that worked\n", 30)+"Patient: Mary Ann, DOB 03/14/1985\n"+strings.Repeat("Fine. see you\n", 30)), 100, uint8(3), uint16(0))
	f.Add([]byte(strings.Repeat("the doctor said\nNPI\n1234567893 ok\nplain words here\n", 20)), 50, uint8(2), uint16(9))
	f.Fuzz(func(t *testing.T, text []byte, near int, rep uint8, seen uint16) {
		text = bytes.Repeat(text, int(rep%8)+1)
		if near < 0 || near >= len(text) {
			return
		}
		if p := e.SafeCut(text, near); p >= 0 {
			checkCut(t, e, text, p)
		}
		// Decided on a prefix, the cut holds for what follows.
		if m := near + 1 + int(seen); m < len(text) {
			if p := e.SafeCut(text[:m], near); p >= 0 {
				checkCut(t, e, text, p)
			}
		}
	})
}
