package detectors

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func fuzzSeeds(f *testing.F) {
	for _, s := range streamInputs() {
		f.Add([]byte(s))
	}
}

// FuzzRedact checks that Redact never panics, that findings are in range
// and ordered, and that no masked value of 8 bytes or more survives.
func FuzzRedact(f *testing.F) {
	fuzzSeeds(f)
	e, err := Compile(Config{})
	if err != nil {
		f.Fatal(err)
	}
	wide := wideEngine(f)
	f.Fuzz(func(t *testing.T, text []byte) {
		got, err := e.Find(context.Background(), text, RedactOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want, err := wide.Find(context.Background(), text, RedactOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("findings %+v, with every context word an island %+v", got, want)
		}
		for _, strict := range []bool{false, true} {
			out, fs, err := e.Redact(context.Background(), text, RedactOptions{Strict: strict})
			if err != nil {
				t.Fatal(err)
			}
			last := 0
			for _, fd := range fs {
				if fd.Start < last || fd.End > len(text) || fd.Start >= fd.End {
					t.Fatalf("finding %+v out of order or range (len %d)", fd, len(text))
				}
				last = fd.End
				value := text[fd.Start:fd.End]
				if fd.Action >= ActionMask && len(value) >= 8 && bytes.Count(text, value) == 1 && bytes.Contains(out, value) {
					t.Fatalf("masked output %q holds %q", out, value)
				}
			}
		}
	})
}

// FuzzStreamSplit checks that any split of a text into chunks gives the
// same output and findings as Redact of the whole.
func FuzzStreamSplit(f *testing.F) {
	for i, s := range streamInputs() {
		f.Add([]byte(s), uint16(i*7), uint16(i*13), uint8(i))
	}
	e, err := Compile(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text []byte, a, b uint16, step uint8) {
		opts := RedactOptions{Strict: step&1 == 1, AfterCard: CardEnd(step>>1) & 15}
		want, wantF, err := e.Redact(context.Background(), text, opts)
		if err != nil {
			t.Fatal(err)
		}
		n := len(text)
		var cuts []int
		if n > 0 {
			x, y := int(a)%(n+1), int(b)%(n+1)
			cuts = append(cuts, min(x, y), max(x, y))
			if step > 1 {
				cuts = cuts[:0]
				for c := int(step) % 17; c < n; c += int(step)%17 + 1 {
					cuts = append(cuts, c)
				}
			}
		}
		got, gotF := streamAll(t, e, text, cuts, opts)
		if !bytes.Equal(got, want) {
			t.Fatalf("cuts %v:\n got %q\nwant %q", cuts, got, want)
		}
		if len(gotF) != len(wantF) {
			t.Fatalf("cuts %v: findings %v, want %v", cuts, gotF, wantF)
		}
		for i := range gotF {
			if gotF[i] != wantF[i] {
				t.Fatalf("cuts %v: findings %v, want %v", cuts, gotF, wantF)
			}
		}
	})
}

// FuzzConfig checks that no YAML-decoded detectors section makes Compile
// panic, and that a compiled engine scans its own samples.
func FuzzConfig(f *testing.F) {
	f.Add([]byte("rules:\n  - {id: a, type: t, pattern: '(?<v>\\d+)', keywords: [x], mask: last4}\n"))
	f.Add([]byte("rules:\n  - {id: a, type: t, pattern: '(a+)+$', context: {words: [k], before: 5, required: true}}\n"))
	f.Add([]byte("defaults: false\nrules:\n  - {id: b, type: t, scanner: card, mask: '{TYPE}-{last4}'}\n"))
	f.Add([]byte("disable: [card_pan]\nactions: {card: divert}\nrule_timeout: 10ms\n"))
	f.Add([]byte("rules:\n  - {id: c, type: t, pattern: '\\d', group: '7', allow: {patterns: ['(']}}\n"))
	f.Add(DefaultRulesYAML())
	f.Fuzz(func(t *testing.T, data []byte) {
		var cfg Config
		if err := yaml.Unmarshal(data, &cfg); err != nil {
			return
		}
		if cfg.RuleTimeout <= 0 || cfg.RuleTimeout > 50_000_000 {
			cfg.RuleTimeout = 50_000_000 // keep fuzzing fast
		}
		e, err := Compile(cfg)
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error")
			}
			return
		}
		for _, r := range cfg.Rules {
			for _, s := range append(r.Tests.Match, r.Tests.NoMatch...) {
				if _, _, err := e.Redact(context.Background(), []byte(s), RedactOptions{}); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}
