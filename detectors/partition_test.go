package detectors

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// partitionOf feeds text to a partitioner in the given chunk sizes
// (cycled) and returns its segments and keyword hits.
func partitionOf(ac *acMatcher, text []byte, chunks []int, byteLoopOnly bool) ([]segment, []hit) {
	pt := partitioner{ac: ac, byteLoopOnly: byteLoopOnly}
	for off, k := 0, 0; off < len(text); k++ {
		n := len(text) - off
		if len(chunks) > 0 {
			n = min(n, max(1, chunks[k%len(chunks)]))
		}
		pt.feed(text[off:off+n], off)
		off += n
	}
	pt.finish(len(text))
	return pt.segs, pt.hits
}

func checkBlockPass(t *testing.T, ac *acMatcher, text []byte, chunks []int) {
	t.Helper()
	wantS, wantH := partitionOf(ac, text, chunks, true)
	gotS, gotH := partitionOf(ac, text, chunks, false)
	if !slices.Equal(gotS, wantS) || !slices.Equal(gotH, wantH) {
		t.Fatalf("block pass differs from the byte loop on %q (chunks %v):\nsegments %v\n    want %v\nhits %v\nwant %v",
			text, chunks, gotS, wantS, gotH, wantH)
	}
}

// blockPassTexts are texts where skipping whole words could go wrong:
// keywords at block edges, multi-word keywords across white space,
// words that are not inert for each reason, and the corpora.
func blockPassTexts(t testing.TB) [][]byte {
	texts := [][]byte{
		[]byte("thanks so much for your patience while we look into this for you. "),
		[]byte("my name is Ann and my date of birth is 01/02/1980 thanks "),
		[]byte("hello there my card number is 4111 1111 1111 1111 ok thanks a lot "),
		[]byte("OK I will send it. A B C. dob: 1/2/1990. patient: Jo Smith, member id W123456789 "),
		[]byte("so my\nname\tis Jo, and my dog is called Rex; my  name  is Al "),
		bytes.Repeat([]byte("word "), 40),
		bytes.Repeat([]byte("averyveryverylongwordthatgoesonandonandonforeverandeverandeverandever "), 5),
		[]byte("- -- ... (ok) 'quoted' \"words\" here; there: done! right? yes. "),
		[]byte("Über café naïve résumé – “smart quotes” here "),
		// Islands longer than softCap, and gaps of white space around
		// gapCap.
		bytes.Repeat([]byte("4111 x9 OK "), 120),
		[]byte("a1" + strings.Repeat(" ", 511) + "b2" + strings.Repeat(" ", 512) + "c3" + strings.Repeat(" ", 513) + "d4 ok" +
			strings.Repeat(" ", 600) + "e5" + strings.Repeat("\n", 700) + "done "),
	}
	for _, name := range []string{"../testdata/corpus/corpus.jsonl", "../testdata/corpus/holdout.jsonl"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, b)
	}
	texts = append(texts, chatText(64<<10), transcriptText(64<<10))
	return texts
}

// TestBlockPassMatchesByteLoop checks that skipping inert words a block at
// a time finds the same segments and keywords as reading every byte, for
// whole texts and for texts fed in chunks of every size up to 130.
func TestBlockPassMatchesByteLoop(t *testing.T) {
	e := mustCompile(t, Config{})
	for _, text := range blockPassTexts(t) {
		checkBlockPass(t, e.ac, text, nil)
		for n := 1; n <= 130; n++ {
			if len(text) > 4096 && n%17 != 0 {
				continue
			}
			checkBlockPass(t, e.ac, text, []int{n})
		}
	}
	// Keywords of a configuration: starting with punctuation, or with a
	// byte above ASCII.
	for _, kws := range [][]string{{"(ref", "-id", "card"}, {"über", "card", "ñ"}} {
		ac := newACMatcher(kws)
		for _, text := range []string{
			"see (ref 12) and -id here or x(ref and my card ok ",
			"the über card is here and ñ and añb ok thanks ",
		} {
			checkBlockPass(t, ac, []byte(text), nil)
			checkBlockPass(t, ac, []byte(text), []int{7})
		}
	}
	// Islands of words that are not inert, a word starting at every
	// distance from softCap.
	for pad := range 9 {
		text := strings.Repeat("7", pad+1) + " " + strings.Repeat("12345678 ", 130)
		checkBlockPass(t, e.ac, []byte(text), nil)
	}
	// White space as long as gapCap, give or take, between an island
	// and a word the byte loop reads (a keyword) or the block pass does.
	for pad := gapCap - 3; pad <= gapCap+3; pad++ {
		for _, next := range []string{"card ok ", "dob ok ", "x9 ok ", "ok fine "} {
			text := "4111 " + strings.Repeat(" ", pad) + next + strings.Repeat("\n", pad) + "12 " + next
			checkBlockPass(t, e.ac, []byte(text), nil)
			checkBlockPass(t, e.ac, []byte(text), []int{100})
		}
	}
	// Random words from a small vocabulary of keywords, parts of
	// keywords, inert and non-inert words, with random separators.
	vocab := []string{"my", "name", "is", "card", "car", "dob", "do", "date", "of", "birth", "member", "id",
		"patient", "patience", "the", "and", "ok", "OK", "I", "A", "Jo", "4111", "x9", "ssn", "s", "-", "(",
		"icd", "rx", "#", "mrn:", "zip", "z", "ndc", "policy", "acct", "account", "routing", "café", "thanks",
		"(card", `"ssn"`, "my-name", "'dob',", "(ok)", "I,", "A."}
	seps := []string{" ", "  ", "\n", "\t", " \n "}
	r := rand.New(rand.NewPCG(3, 4))
	for range 3000 {
		var b bytes.Buffer
		for range r.IntN(60) {
			b.WriteString(vocab[r.IntN(len(vocab))])
			b.WriteString(seps[r.IntN(len(seps))])
		}
		chunks := []int{1 + r.IntN(100), 1 + r.IntN(100), 1 + r.IntN(100)}
		checkBlockPass(t, e.ac, b.Bytes(), nil)
		checkBlockPass(t, e.ac, b.Bytes(), chunks)
	}
}

// FuzzBlockPass compares the block pass with the byte loop on any text
// and chunk size.
func FuzzBlockPass(f *testing.F) {
	for i, text := range blockPassTexts(f) {
		if len(text) < 4096 {
			f.Add(text, uint8(i*11))
		}
	}
	e, err := Compile(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text []byte, chunk uint8) {
		checkBlockPass(t, e.ac, text, nil)
		checkBlockPass(t, e.ac, text, []int{int(chunk)})
	})
}

// TestValuesBeginInIslands holds three choices that rest on the values of a
// rule that are not words beginning inside an island: the partitioner
// makes no island of such a rule's context words, a segment runs such a
// rule only when one of its context words reaches the island, and tries
// such a rule's values only in its own island. Every text must give the
// findings of an engine where every keyword and context word is an
// island and every segment scans the whole window of each context word
// near it. The texts put each context word at many distances from sample
// values of its rule, with other words, separators and line breaks
// between.
func TestValuesBeginInIslands(t *testing.T) {
	narrow := mustCompile(t, Config{})
	wide := wideEngine(t)
	texts := shapeSamples(t)
	texts = append(texts, string(chatText(16<<10)), string(transcriptText(16<<10)))
	var doc struct{ Rules []RuleSpec }
	if err := yaml.Unmarshal(DefaultRulesYAML(), &doc); err != nil {
		t.Fatal(err)
	}
	fillers := []string{"", " ", "  ", ": ", " is ", " on file: ", " - ", "\n", " the one you have\n", ", ok ", " and my order #4821 ", " (new) ", "/", " card "}
	r := rand.New(rand.NewPCG(7, 11))
	for _, spec := range doc.Rules {
		if len(spec.Context.Words) == 0 || len(spec.Tests.Match) == 0 {
			continue
		}
		for _, word := range spec.Context.Words {
			for range 12 {
				value := spec.Tests.Match[r.IntN(len(spec.Tests.Match))]
				fill := fillers[r.IntN(len(fillers))]
				pad := strings.Repeat("word ", r.IntN(14))
				texts = append(texts,
					word+fill+pad+value,
					value+fill+pad+word,
					strings.ToUpper(word)+fill+value+fill+value,
					"hi "+word+fill+"\n"+pad+value+" thanks",
					word+value+" "+word+" "+pad+value)
			}
		}
	}
	ctx := context.Background()
	for _, text := range texts {
		got, err := narrow.Find(ctx, []byte(text), RedactOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want, err := wide.Find(ctx, []byte(text), RedactOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("on %q:\nnarrow %+v\n  wide %+v", text, got, want)
		}
	}
}

// wideEngine compiles the defaults with every keyword and context word an
// island and whole context windows scanned from every segment.
func wideEngine(t testing.TB) *Engine {
	t.Helper()
	wide := mustCompile(t, Config{})
	wide.wholeWindows = true
	quiet := 0
	for kw := range wide.ac.island {
		if !wide.ac.island[kw] {
			wide.ac.island[kw] = true
			quiet++
		}
	}
	if quiet == 0 {
		t.Fatal("every context word makes an island: the expiry words should not")
	}
	return wide
}
