package detectors

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode"
)

// The labelled corpus (every .jsonl file under testdata/corpus) holds chat
// sentences, one JSON object a line:
//
//	{"text": "...", "labels": [{"type": "card", "value": "4111 1111 1111 1111"}]}
//
// A line with labels is a positive; a line without is a negative. A
// negative may name, in "allow", types that are rightly found in it (the
// phone number in "call me back at ..."); any other finding on a negative
// is a false positive.
const (
	corpusDir = "../testdata/corpus"
	// corpusMain is the file held to the minimum size; others (such as
	// holdout.jsonl, written with different sentences) add to it.
	corpusMain = "corpus.jsonl"
)

// checksumTypes are the types whose values carry a check the validators
// verify; the accuracy bar applies to them.
var checksumTypes = []string{"card", "npi", "dea", "mbi", "iban", "aba_routing", "vin", "ssn", "itin"}

const (
	minRecall      = 0.99
	maxFPLineRate  = 0.01
	minCorpusLines = 300
)

type corpusLabel struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type corpusLine struct {
	Text   string        `json:"text"`
	Labels []corpusLabel `json:"labels"`
	Allow  []string      `json:"allow"`

	at string // "file:line" in the corpus
}

// loadCorpus reads every corpus file; main is the lines of corpusMain.
func loadCorpus(t *testing.T) (all, main []corpusLine) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(corpusDir, "*.jsonl"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no corpus files in %s (%v)", corpusDir, err)
	}
	for _, p := range paths {
		lines := loadCorpusFile(t, p)
		all = append(all, lines...)
		if filepath.Base(p) == corpusMain {
			main = lines
		}
	}
	return all, main
}

func loadCorpusFile(t *testing.T, path string) []corpusLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("opening corpus: %v", err)
	}
	defer f.Close()
	var out []corpusLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var l corpusLine
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		l.at = fmt.Sprintf("%s:%d", filepath.Base(path), n)
		for _, lb := range l.Labels {
			if !strings.Contains(l.Text, lb.Value) || lb.Value == "" {
				t.Fatalf("%s: label %s is not a substring of the text", l.at, lb.Type)
			}
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading corpus: %v", err)
	}
	return out
}

// normaliseLabel turns a value as written in chat into what the validators
// take: decimal digits of any script to ASCII, letters upper-cased, and
// separators and format characters dropped.
func normaliseLabel(v string) []byte {
	var out []byte
	for _, r := range v {
		switch {
		case unicode.IsDigit(r):
			out = append(out, byte('0'+digitValue(r)))
		case r < 128 && unicode.IsLetter(r):
			out = append(out, byte(unicode.ToUpper(r)))
		}
	}
	return out
}

// digitValue returns the value of a Unicode decimal digit.
func digitValue(r rune) int {
	for zero := r; zero >= r-9; zero-- {
		if unicode.IsDigit(zero) && !unicode.IsDigit(zero-1) {
			return int(r - zero)
		}
	}
	return 0
}

// validatorFor maps a checksum type to its validator name.
func validatorFor(typ string) string {
	if typ == "aba_routing" {
		return "aba"
	}
	return typ
}

// TestCorpusLabels keeps the corpus honest: it is large enough, and every
// labelled checksum value really passes its check.
func TestCorpusLabels(t *testing.T) {
	all, main := loadCorpus(t)
	var pos, neg int
	for _, l := range main {
		if len(l.Labels) == 0 {
			neg++
		} else {
			pos++
		}
	}
	for _, l := range all {
		for _, lb := range l.Labels {
			if !slices.Contains(checksumTypes, lb.Type) {
				continue
			}
			fn, ok := ValidatorByName(validatorFor(lb.Type))
			if !ok {
				t.Fatalf("no validator for %s", lb.Type)
			}
			if !fn(normaliseLabel(lb.Value)) {
				t.Errorf("%s: %s label fails its validator", l.at, lb.Type)
			}
		}
	}
	if pos < minCorpusLines || neg < minCorpusLines {
		t.Errorf("%s has %d positive and %d negative lines, want at least %d of each", corpusMain, pos, neg, minCorpusLines)
	}
}

// accuracy is what one run of the engine over the corpus measured.
type accuracy struct {
	labels, recalled map[string]int
	missed           map[string][]string // type → corpus lines
	negatives        int
	fpLines          []string // "line N: type"
	extra            map[string]int
}

func measureAccuracy(ctx context.Context, t *testing.T, eng *Engine, lines []corpusLine) accuracy {
	t.Helper()
	a := accuracy{labels: map[string]int{}, recalled: map[string]int{}, missed: map[string][]string{}, extra: map[string]int{}}
	for _, l := range lines {
		text := []byte(l.Text)
		fs, err := eng.Find(ctx, text, RedactOptions{})
		if err != nil {
			t.Fatalf("%s: Find: %v", l.at, err)
		}
		for _, f := range fs {
			if f.Start < 0 || f.End > len(text) || f.Start >= f.End {
				t.Fatalf("%s: finding %s [%d,%d) out of range", l.at, f.Rule, f.Start, f.End)
			}
		}
		if len(l.Labels) == 0 {
			a.negatives++
			var wrong []string
			for _, f := range fs {
				if !slices.Contains(l.Allow, f.Type) {
					wrong = append(wrong, fmt.Sprintf("%s(%s)", f.Type, f.Rule))
				}
			}
			if len(wrong) > 0 {
				a.fpLines = append(a.fpLines, fmt.Sprintf("%s: %s", l.at, strings.Join(wrong, ", ")))
			}
			continue
		}
		covered := make([]bool, len(fs))
		for _, lb := range l.Labels {
			start := strings.Index(l.Text, lb.Value)
			end := start + len(lb.Value)
			a.labels[lb.Type]++
			hit := false
			for i, f := range fs {
				if f.Start < end && f.End > start {
					covered[i] = true
				}
				if f.Type == lb.Type && f.Start <= start && f.End >= end {
					hit = true
				}
			}
			if hit {
				a.recalled[lb.Type]++
			} else {
				a.missed[lb.Type] = append(a.missed[lb.Type], l.at)
			}
		}
		for i, f := range fs {
			if !covered[i] {
				a.extra[f.Type]++
			}
		}
	}
	return a
}

// TestAccuracy runs the engine with its defaults over the labelled corpus
// and holds it to the recall and false-positive bars.
func TestAccuracy(t *testing.T) {
	lines, _ := loadCorpus(t)
	eng, err := Compile(Config{})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	a := measureAccuracy(t.Context(), t, eng, lines)

	types := make([]string, 0, len(a.labels))
	for typ := range a.labels {
		types = append(types, typ)
	}
	sort.Strings(types)
	for _, typ := range types {
		recall := float64(a.recalled[typ]) / float64(a.labels[typ])
		gated := slices.Contains(checksumTypes, typ)
		t.Logf("recall %-12s %6.2f%% (%d/%d)%s", typ, 100*recall, a.recalled[typ], a.labels[typ], map[bool]string{true: "", false: " [not gated]"}[gated])
		if len(a.missed[typ]) > 0 {
			t.Logf("  missed %s at %s", typ, strings.Join(a.missed[typ], " "))
		}
		if gated && recall < minRecall {
			t.Errorf("recall for %s is %.2f%%, want at least %.0f%%", typ, 100*recall, 100*minRecall)
		}
	}
	for _, typ := range checksumTypes {
		if a.labels[typ] == 0 {
			t.Errorf("corpus has no %s labels", typ)
		}
	}
	fpRate := float64(len(a.fpLines)) / float64(a.negatives)
	t.Logf("false-positive lines %.2f%% (%d/%d)", 100*fpRate, len(a.fpLines), a.negatives)
	for _, l := range a.fpLines {
		t.Logf("  %s", l)
	}
	if len(a.extra) > 0 {
		t.Logf("findings on positive lines outside any label, by type: %v", a.extra)
	}
	if fpRate > maxFPLineRate {
		t.Errorf("false-positive line rate %.2f%%, want at most %.0f%%", 100*fpRate, 100*maxFPLineRate)
	}
}
