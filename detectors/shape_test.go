package detectors

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// shapedRules returns the compiled default rules that carry a hand-written
// shape check.
func shapedRules(t testing.TB) []*Rule {
	t.Helper()
	e, err := Compile(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*Rule
	for _, r := range e.all {
		if r.shapeWhole != nil || r.shapeAt != nil {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		t.Fatal("no default rule has a shape check")
	}
	return out
}

// checkShapes fails when a rule finds other spans in b with its shape
// check than without it: a check may only skip work the pattern would not
// have turned into a finding.
func checkShapes(t *testing.T, rules []*Rule, b []byte) {
	t.Helper()
	v := &view{b: b}
	for _, r := range rules {
		bare := *r
		bare.shapeWhole, bare.shapeAt = nil, nil
		if r.shapeWhole != nil {
			got, _ := r.find(v, nil)
			want, _ := bare.find(v, nil)
			if !slices.Equal(got, want) {
				t.Fatalf("rule %s: whole-text shape check changes spans on %q: %v, want %v", r.ID, b, got, want)
			}
		}
		if r.shapeAt != nil && r.anchored != nil && r.first != nil {
			var s scanner
			got := s.anchoredAt(r, v, 0, 0, len(b), len(b), nil)
			want := s.anchoredAt(&bare, v, 0, 0, len(b), len(b), nil)
			if !slices.Equal(got, want) {
				t.Fatalf("rule %s: positional shape check changes spans on %q: %v, want %v", r.ID, b, got, want)
			}
		}
	}
}

// shapeSamples are every default rule's own samples and the lines of the
// labelled corpus.
func shapeSamples(t testing.TB) []string {
	t.Helper()
	var doc struct{ Rules []RuleSpec }
	if err := yaml.Unmarshal(DefaultRulesYAML(), &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range doc.Rules {
		out = append(out, r.Tests.Match...)
		out = append(out, r.Tests.NoMatch...)
	}
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files in %s: %v", corpusDir, err)
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var line struct{ Text string }
			if json.Unmarshal(sc.Bytes(), &line) == nil {
				out = append(out, line.Text)
			}
		}
		f.Close()
	}
	return out
}

// TestShapeChecksNeverHideAMatch holds each hand-written shape check in
// shape.go to the pattern of its rule in defaults.yaml: a pattern edited
// without its check fails here.
func TestShapeChecksNeverHideAMatch(t *testing.T) {
	rules := shapedRules(t)
	for _, text := range shapeSamples(t) {
		checkShapes(t, rules, []byte(text))
		// Views are normalised text: check that form too.
		checkShapes(t, rules, newView([]byte(text), 0).b)
	}
}

func FuzzShapeChecks(f *testing.F) {
	for _, text := range shapeSamples(f) {
		f.Add(text)
	}
	rules := shapedRules(f)
	f.Fuzz(func(t *testing.T, text string) {
		checkShapes(t, rules, []byte(text))
	})
}

// TestKeywordInsideFindsTheSame compares the engine with and without the
// narrowed search around a keyword held by every match (the @ of an
// email address), on the corpus and on addresses packed in odd ways.
func TestKeywordInsideFindsTheSame(t *testing.T) {
	narrow := mustCompile(t, Config{})
	wide := mustCompile(t, Config{})
	n := 0
	for _, r := range wide.all {
		if r.around != nil {
			r.around = nil
			n++
		}
	}
	if n == 0 {
		t.Fatal("no default rule holds its keyword: the email rule should")
	}
	texts := shapeSamples(t)
	texts = append(texts,
		"mail a@b.co, c.d@e.org;f@g.io and x@@y.com or @z.com, a@b@c.com",
		"write to "+strings.Repeat("a", 120)+"@example.com now",
		"addr: jane.doe@"+strings.Repeat("sub.", 40)+"example.com",
		"two: first.last+tag@mail.example.co.uk<br>second_name@host-1.example.net.",
		"ünïcode jäne@exämple.com and plain jane@example.com",
	)
	for _, text := range texts {
		got, err := narrow.Find(context.Background(), []byte(text), RedactOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want, err := wide.Find(context.Background(), []byte(text), RedactOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("on %q:\nnarrowed %+v\n    wide %+v", text, got, want)
		}
	}
}
