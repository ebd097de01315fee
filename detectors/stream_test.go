package detectors

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// streamInputs are crafted texts whose values sit at chunk edges, in long
// islands, after context words and next to forced cuts.
func streamInputs() []string {
	base := []string{
		"",
		"hello",
		"hello world, nothing here.",
		"my card is 4111 1111 1111 1111 thanks",
		"card 4111 1111 1111 1111 / 12/27 / 123 thanks",
		"4111111111111111\n123\n11/2026\n",
		"card:4111-1111-1111-1111!",
		"abc4111111111111111xyz",
		"4111\n1111\n1111\n1111",
		"４１１１ １１１１ １１１１ １１１１ ok",
		"4111\u200b1111\u200b1111\u200b1111",
		"SSN 536-22-8741 and ITIN 912-70-1234",
		"my SSN is 536228741 ok",
		"call 555-234-5678 or (212) 555-0143",
		"mail jane.doe@example.com today",
		"see https://example.com/a?b=c. and www.example.org",
		"my name is John Smith and I need help",
		"Patient: Mary O'Neil, DOB: 03/14/1985, MRN: 12345678",
		"born on March 14, 1985 in town",
		"my address is 123 Main Street, apt 5 thanks",
		"IBAN DE89 3704 0044 0532 0130 00 please",
		"routing number 021000021 account number 123456789012",
		"%B4111111111111111^DOE/JOHN^2512101000000000000?",
		"exp 12/27 cvv 123",
		"VIN 1M8GDM9AXKP042788 and MBI 1EG4-TE5-MK73 and DEA AB1234563",
		"NPI 1234567893 ICD-10 E11.9 NDC 0777-3105-02",
		"passport number 123456789, driver's license D1234567",
		"zip 94105, from 192.168.1.20",
		"member id: XYZ123456789",
		"4111 1111 1111 1111 4111 1111 1111 1111",
		"order 12345 4111111111111111 2025",
		"expensive, 12/27",
		"café ４１１１ résumé 4111–1111–1111–1111",
	}
	long := strings.Repeat("word ", 150) + "4111 1111 1111 1111 " + strings.Repeat("x", 700) + " done"
	digits := strings.Repeat("1234 ", 300) + "4111 1111 1111 1111"
	glued := strings.Repeat("a", 1500) + "4111111111111111" + strings.Repeat("b", 100)
	spaces := "4111 1111" + strings.Repeat(" ", 600) + "1111 1111 end"
	kw := strings.Repeat("card ", 200) + "4111111111111111"
	out := append(base, long, digits, glued, spaces, kw)
	// Pairs of base inputs joined: values meet at the seams.
	for i := 0; i+1 < len(base); i += 3 {
		out = append(out, base[i]+" "+base[i+1], base[i]+base[i+1])
	}
	return out
}

// streamAll feeds text in the chunks given by cuts and returns the output
// and findings.
func streamAll(t testing.TB, e *Engine, text []byte, cuts []int, opts RedactOptions) ([]byte, []Finding) {
	t.Helper()
	ctx := context.Background()
	st := e.NewStream(opts)
	var out []byte
	var fs []Finding
	last := 0
	for _, c := range append(cuts, len(text)) {
		o, f, err := st.Write(ctx, text[last:c])
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
		out, fs = append(out, o...), append(fs, f...)
		last = c
	}
	o, f, err := st.Flush(ctx)
	if err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if st.Pending() != 0 {
		t.Fatalf("Pending after Flush = %d", st.Pending())
	}
	return append(out, o...), append(fs, f...)
}

func mustCompile(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := Compile(cfg)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return e
}

func checkSplit(t *testing.T, e *Engine, text []byte, cuts []int, opts RedactOptions, want []byte, wantF []Finding) {
	t.Helper()
	got, gotF := streamAll(t, e, text, cuts, opts)
	if !bytes.Equal(got, want) {
		t.Fatalf("cuts %v:\n got %q\nwant %q", cuts, got, want)
	}
	if !slices.Equal(gotF, wantF) {
		t.Fatalf("cuts %v: findings\n got %v\nwant %v", cuts, gotF, wantF)
	}
}

func TestStreamSplitsMatchRedact(t *testing.T) {
	e := mustCompile(t, Config{})
	ctx := context.Background()
	for i, in := range streamInputs() {
		for _, strict := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d/strict=%v", i, strict), func(t *testing.T) {
				opts := RedactOptions{Strict: strict}
				text := []byte(in)
				want, wantF, err := e.Redact(ctx, text, opts)
				if err != nil {
					t.Fatal(err)
				}
				if len(text) <= 120 {
					// Every split into two and three chunks.
					for a := 0; a <= len(text); a++ {
						checkSplit(t, e, text, []int{a}, opts, want, wantF)
						for b := a; b <= len(text) && len(text) <= 60; b++ {
							checkSplit(t, e, text, []int{a, b}, opts, want, wantF)
						}
					}
				} else {
					for a := 0; a <= len(text); a += 7 {
						checkSplit(t, e, text, []int{a}, opts, want, wantF)
					}
				}
				// Byte by byte.
				cuts := make([]int, 0, len(text))
				for k := 1; k < len(text); k++ {
					cuts = append(cuts, k)
				}
				checkSplit(t, e, text, cuts, opts, want, wantF)
			})
		}
	}
}

func TestStreamReleasesCleanTextAtOnce(t *testing.T) {
	e := mustCompile(t, Config{})
	ctx := context.Background()
	st := e.NewStream(RedactOptions{})
	steps := []struct{ in, out string }{
		{"Hello there, ", "Hello there, "},
		{"how are", "how "}, // "are" may still grow
		{" you? My card is ", "are you? My card is "},
		{"4111 1111", ""},  // a possible card: held
		{" 1111 1111", ""}, // still growing
		{" thanks ", "**** **** **** 1111 thanks "},
		{"bye", ""},
	}
	for _, s := range steps {
		out, _, err := st.Write(ctx, []byte(s.in))
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != s.out {
			t.Fatalf("Write(%q) = %q, want %q", s.in, out, s.out)
		}
	}
	out, _, err := st.Flush(ctx)
	if err != nil || string(out) != "bye" {
		t.Fatalf("Flush = %q, %v", out, err)
	}
	if _, _, err := st.Write(ctx, []byte("x")); err == nil {
		t.Fatal("Write after Flush accepted")
	}
}

func TestStreamFindingOffsets(t *testing.T) {
	e := mustCompile(t, Config{})
	ctx := context.Background()
	st := e.NewStream(RedactOptions{})
	var fs []Finding
	for _, chunk := range []string{"abc ", "ssn 536-22-", "8741 and card 4111111111111111 end"} {
		_, f, err := st.Write(ctx, []byte(chunk))
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f...)
	}
	_, f, _ := st.Flush(ctx)
	fs = append(fs, f...)
	whole := "abc ssn 536-22-8741 and card 4111111111111111 end"
	if len(fs) != 2 || whole[fs[0].Start:fs[0].End] != "536-22-8741" || whole[fs[1].Start:fs[1].End] != "4111111111111111" {
		t.Fatalf("findings %+v", fs)
	}
}

func TestStreamBoundedHoldBack(t *testing.T) {
	e := mustCompile(t, Config{})
	ctx := context.Background()
	inputs := map[string]string{
		"digits":  "1234 ",
		"word":    "x",
		"glued":   "a1",
		"spaces":  "1 ",
		"keyword": "card ",
	}
	for name, unit := range inputs {
		t.Run(name, func(t *testing.T) {
			st := e.NewStream(RedactOptions{})
			maxPending := 0
			for range 20000 / len(unit) {
				if _, _, err := st.Write(ctx, []byte(unit)); err != nil {
					t.Fatal(err)
				}
				maxPending = max(maxPending, st.Pending())
			}
			if maxPending > 2*hardCap+2*lookAround+maxKeyword {
				t.Fatalf("held back %d bytes", maxPending)
			}
		})
	}
}

func TestStreamSplitsWithConfiguredRules(t *testing.T) {
	e := mustCompile(t, Config{
		Actions: map[string]string{"card": "divert"},
		Rules: []RuleSpec{
			{ID: "ticket", Type: "ticket", Pattern: `TCK-\d{3,}`}, // no keywords: all text
			{ID: "pin", Type: "pin", Pattern: `(?<v>\d{4})`, Context: ContextSpec{Words: []string{"pin"}, Before: 8, After: 12, Required: true}},
			{ID: "secret", Type: "secret", Pattern: `secret (?:is )?(?<v>[a-z]+)`, Keywords: []string{"secret"}, Mask: "type_tag"},
		},
	})
	ctx := context.Background()
	d := &recordingDiverter{}
	inputs := append(streamInputs(),
		"ticket TCK-12345 and pin 1234, also 9876 is my pin",
		"the secret is banana "+strings.Repeat("TCK-1 ", 300)+"TCK-999",
	)
	for i, in := range inputs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			text := []byte(in)
			opts := RedactOptions{Diverter: d}
			want, wantF, err := e.Redact(ctx, text, opts)
			if err != nil {
				t.Fatal(err)
			}
			step := max(1, len(text)/40)
			for a := 0; a <= len(text); a += step {
				checkSplit(t, e, text, []int{a}, opts, want, wantF)
				checkSplit(t, e, text, []int{a / 2, a}, opts, want, wantF)
			}
		})
	}
	out, _, err := e.Redact(ctx, []byte("ticket TCK-12345 and pin 1234, also 9876 is my pin; the secret is banana"), RedactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "ticket ***-***** and pin ****, also **** is my pin; the secret is [SECRET]" {
		t.Fatalf("out %q", out)
	}
}

// TestRedactLargeTextInPieces holds a one-shot scan of a text longer than
// scanPiece, which it feeds in pieces, to a stream fed the whole text in
// one write: the same masked text and findings, with values placed across
// the piece boundaries, in long islands and after context words there.
func TestRedactLargeTextInPieces(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []Config{{}, {Rules: []RuleSpec{{ID: "acme_ref", Type: "acme", Pattern: `ACME-[0-9]{6}`}}}} {
		e := mustCompile(t, cfg)
		var text []byte
		values := streamInputs()
		for i := 0; len(text) < 5*scanPiece; i++ {
			// Pad so that values start at and around each piece edge.
			if edge := (len(text)/scanPiece + 1) * scanPiece; edge-len(text) < 200 {
				text = append(text, bytes.Repeat([]byte("x"), max(0, edge-len(text)-i%40))...)
			}
			text = append(text, values[i%len(values)]...)
			text = append(text, " ACME-123456 "...)
			text = append(text, strings.Repeat("plain words here ", i%7)...)
		}
		got, gotFs, err := e.Redact(ctx, text, RedactOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st := e.NewStream(RedactOptions{})
		want, wantFs, err := st.Write(ctx, text)
		if err != nil {
			t.Fatal(err)
		}
		rest, restFs, err := st.Flush(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want, wantFs = append(want, rest...), append(wantFs, restFs...)
		if !bytes.Equal(got, want) {
			i := 0
			for i < min(len(got), len(want)) && got[i] == want[i] {
				i++
			}
			t.Fatalf("masked texts differ from byte %d of %d", i, len(text))
		}
		if !slices.Equal(gotFs, wantFs) {
			t.Fatalf("findings differ: %d in pieces, %d in one write", len(gotFs), len(wantFs))
		}
		if len(gotFs) < 100 {
			t.Fatalf("only %d findings: the text no longer holds what the test needs", len(gotFs))
		}
	}
}
