package detectors

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// userRule returns a valid configured rule written at line in veil.yaml,
// with each key on the following lines.
func userRule(line int, mod func(*RuleSpec)) RuleSpec {
	r := RuleSpec{
		ID:       "acme_mrn",
		Type:     "mrn",
		Pattern:  `(?i)\bMRN[:#\s]*(?<v>\d{7,10})\b`,
		Keywords: []string{"mrn"},
		Action:   "divert",
		Mask:     "last4",
		Tests:    TestsSpec{Match: []string{"MRN: 12345678"}, NoMatch: []string{"MRN: 12"}},
	}
	r.Pos = Pos{File: "veil.yaml", Line: line, Keys: map[string]int{}}
	for i, k := range []string{"id", "type", "description", "pattern", "group", "keywords", "context", "validator", "action", "mask", "allow", "tests", "confidence", "max_len"} {
		r.Pos.Keys[k] = line + 1 + i
	}
	if mod != nil {
		mod(&r)
	}
	return r
}

func TestConfigValid(t *testing.T) {
	cfg := Config{Rules: []RuleSpec{userRule(10, nil)}, RuleTimeout: 50 * time.Millisecond}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	e := mustCompile(t, cfg)
	out, fs, err := e.Redact(context.Background(), []byte("patient MRN: 12345678 seen"), RedactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "patient MRN: *****678 seen" || len(fs) != 1 || fs[0].Rule != "acme_mrn" || fs[0].Action != ActionDivert {
		t.Fatalf("out %q findings %+v", out, fs)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*RuleSpec)
		// want are fragments of the one error expected: place, rule, field.
		want []string
	}{
		{"bad pattern", func(r *RuleSpec) { r.Pattern = `(\d+` }, []string{"veil.yaml:14: ", `rule "acme_mrn"`, "pattern: "}},
		{"no pattern", func(r *RuleSpec) { r.Pattern = "" }, []string{"veil.yaml:14: ", "pattern: required"}},
		{"no id", func(r *RuleSpec) { r.ID = "" }, []string{"veil.yaml:11: ", "rule #1", "id: required"}},
		{"bad id", func(r *RuleSpec) { r.ID = "a b" }, []string{"veil.yaml:11: ", "id: "}},
		{"no type", func(r *RuleSpec) { r.Type = "" }, []string{"veil.yaml:12: ", "type: required"}},
		{"bad group", func(r *RuleSpec) { r.Group = "nope" }, []string{"veil.yaml:15: ", "group: "}},
		{"empty keyword", func(r *RuleSpec) { r.Keywords = []string{""} }, []string{"veil.yaml:16: ", "keywords[0]: "}},
		{"context without words", func(r *RuleSpec) { r.Context = ContextSpec{Required: true, Before: 10} }, []string{"veil.yaml:17: ", "context.required: "}},
		{"context window too big", func(r *RuleSpec) { r.Context = ContextSpec{Words: []string{"x"}, Before: 5000} }, []string{"veil.yaml:17: ", "context.before: "}},
		{"unknown validator", func(r *RuleSpec) { r.Validator = "crc" }, []string{"veil.yaml:18: ", "validator: "}},
		{"bad action", func(r *RuleSpec) { r.Action = "shred" }, []string{"veil.yaml:19: ", "action: "}},
		{"bad mask", func(r *RuleSpec) { r.Mask = "half" }, []string{"veil.yaml:20: ", "mask: "}},
		{"bad template", func(r *RuleSpec) { r.Mask = "[{value}]" }, []string{"veil.yaml:20: ", "mask: ", "{value}"}},
		{"bad allow pattern", func(r *RuleSpec) { r.Allow.Patterns = []string{"(x"} }, []string{"veil.yaml:21: ", "allow.patterns[0]: "}},
		{"failing match sample", func(r *RuleSpec) { r.Tests.Match = []string{"nothing here"} }, []string{"veil.yaml:22: ", "tests.match[0]: "}},
		{"failing no_match sample", func(r *RuleSpec) { r.Tests.NoMatch = []string{"MRN 1234567"} }, []string{"veil.yaml:22: ", "tests.no_match[0]: "}},
		{"bad confidence", func(r *RuleSpec) { r.Confidence = 2 }, []string{"veil.yaml:23: ", "confidence: "}},
		{"bad max_len", func(r *RuleSpec) { r.MaxLen = -1 }, []string{"veil.yaml:24: ", "max_len: "}},
		{"scanner and pattern", func(r *RuleSpec) { r.Scanner = "card" }, []string{"veil.yaml:10: ", "scanner: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Rules: []RuleSpec{userRule(10, tt.mod)}}
			_, err := Compile(cfg)
			if err == nil {
				t.Fatal("Compile accepted the config")
			}
			if verr := cfg.Validate(); verr == nil || verr.Error() != err.Error() {
				t.Fatalf("Validate %v, Compile %v", verr, err)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Fatalf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

func TestConfigErrorsAllAtOnce(t *testing.T) {
	cfg := Config{
		Pos:     Pos{File: "veil.yaml", Line: 40, Keys: map[string]int{"disable": 42, "actions": 43}},
		Disable: []string{"no_such_rule"},
		Actions: map[string]string{"card": "explode", "unknown_type": "mask"},
		Rules: []RuleSpec{
			userRule(10, func(r *RuleSpec) { r.Pattern = "("; r.Action = "x" }),
			userRule(30, func(r *RuleSpec) { r.ID = "other"; r.Validator = "nope" }),
			userRule(50, func(r *RuleSpec) { r.ID = "other" }),
		},
		RuleTimeout: -time.Second,
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("not joined: %v", err)
	}
	msg := err.Error()
	for _, w := range []string{
		"veil.yaml:14: rule \"acme_mrn\": pattern:",
		"veil.yaml:19: rule \"acme_mrn\": action:",
		"veil.yaml:38: rule \"other\": validator:",
		"veil.yaml:51: rule \"other\": id: duplicate",
		"veil.yaml:42: detectors: disable[0]",
		"veil.yaml:43: detectors: actions: card",
		"veil.yaml:43: detectors: actions: unknown_type",
		"rule_timeout",
	} {
		if !strings.Contains(msg, w) {
			t.Errorf("error lacks %q:\n%s", w, msg)
		}
	}
	if n := len(joined.Unwrap()); n < 8 {
		t.Errorf("%d problems reported, want 8 or more", n)
	}
}

func TestOverrideDisableDefaults(t *testing.T) {
	e := mustCompile(t, Config{Disable: []string{"phone", "phone_bare", "phone_intl"}})
	if types := findTypes(t, e, "call 555-234-5678", RedactOptions{}); len(types) != 0 {
		t.Fatalf("disabled phone found: %q", types)
	}
	e = mustCompile(t, Config{Rules: []RuleSpec{{ID: "phone", Type: "phone", Pattern: `\d{3}-\d{4}`, Mask: "type_tag"}}})
	out, _, err := e.Redact(context.Background(), []byte("call 555-0100"), RedactOptions{})
	if err != nil || string(out) != "call [PHONE]" {
		t.Fatalf("override: %q %v", out, err)
	}
	off := false
	e = mustCompile(t, Config{Defaults: &off})
	if len(e.Rules()) != 0 {
		t.Fatalf("defaults off: %d rules", len(e.Rules()))
	}
}

func TestReDoSTimesOutAsMatch(t *testing.T) {
	cfg := Config{
		Defaults:    new(bool),
		RuleTimeout: 100 * time.Millisecond,
		Rules:       []RuleSpec{{ID: "evil", Type: "evil", Pattern: `(a+)+$`}},
	}
	e := mustCompile(t, cfg)
	text := []byte(strings.Repeat("a", 50_000) + "!")
	start := time.Now()
	out, fs, err := e.Redact(context.Background(), text, RedactOptions{})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Redact: %v", err)
	}
	if elapsed > 5*time.Second {
		t.Fatalf("took %v", elapsed)
	}
	if len(fs) != 1 || fs[0].Start != 0 || fs[0].End != len(text) || fs[0].Type != "evil" {
		t.Fatalf("findings %+v", fs)
	}
	if strings.Contains(string(out), "aaaa") {
		t.Fatal("hostile text left unmasked")
	}
}

func TestTemplateAndStyles(t *testing.T) {
	rule := func(mask string) Config {
		return Config{Defaults: new(bool), Rules: []RuleSpec{{ID: "num", Type: "acct", Pattern: `(?<v>[0-9][0-9 \-]*[0-9])`, Mask: mask}}}
	}
	tests := []struct {
		mask, in, want string
	}{
		{"full", "n 4111-1111-1111-1111 x", "n ****-****-****-**** x"},
		{"last4", "n 4111-1111-1111-1111 x", "n ****-****-****-1111 x"},
		{"bin_last4", "n 4111-1111-1111-1111 x", "n 4111-11**-****-1111 x"},
		{"bin_last4", "n 12345678901234 x", "n **********1234 x"},
		{"last4", "n 123456 x", "n *****6 x"},
		{"last4", "n 12345 x", "n ***** x"},
		{"type_tag", "n 12345 x", "n [ACCT] x"},
		{"[{TYPE} ending {last4}]", "n 4111 1111 1111 1111 x", "n [ACCT ending 1111] x"},
		{"<{type}:{rule}>", "n 42 x", "n <acct:num> x"},
		{"{last4}", "n 123 x", "n  x"},
		{"full", "n ４１１１\u200b２２ x", "n ****** x"},
		{"last4", "n ４１１１２２３３４ x", "n *****2334 x"},
	}
	for _, tt := range tests {
		t.Run(tt.mask+"/"+tt.in, func(t *testing.T) {
			e := mustCompile(t, rule(tt.mask))
			out, _, err := e.Redact(context.Background(), []byte(tt.in), RedactOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Fatalf("got %q, want %q", out, tt.want)
			}
		})
	}
}

func TestRevealNeverTooMuch(t *testing.T) {
	for n := 0; n <= 40; n++ {
		k := revealLast(n)
		if k > 4 || (k > 0 && n-k < 5) {
			t.Errorf("n=%d reveals %d", n, k)
		}
	}
}

func TestAllowList(t *testing.T) {
	e := mustCompile(t, Config{Rules: []RuleSpec{{
		ID: "card_pan", Type: "card", Scanner: "card", Validator: "card", Mask: "last4",
		Allow: AllowSpec{Values: []string{"4111 1111 1111 1111"}, Patterns: []string{`5555.*`}},
	}}})
	for _, text := range []string{"4111111111111111", "4111-1111-1111-1111", "5555555555554444"} {
		if types := findTypes(t, e, text, RedactOptions{}); len(types) != 0 {
			t.Errorf("%s: allowed value found: %q", text, types)
		}
	}
	if types := findTypes(t, e, "378282246310005", RedactOptions{}); len(types) != 1 {
		t.Errorf("amex: %q", types)
	}
}

func TestContextRequiredAndWindows(t *testing.T) {
	e := mustCompile(t, Config{Defaults: new(bool), Rules: []RuleSpec{{
		ID: "code", Type: "code", Pattern: `(?<v>\d{5})`,
		Context: ContextSpec{Words: []string{"code"}, Before: 10, After: 10, Required: true},
	}}})
	for text, want := range map[string]int{
		"code 12345":                          1,
		"12345 is the code":                   1,
		"code ........... 12345":              0,
		"12345 ........................ code": 0,
		"zipcode 12345":                       0, // a context word starts a word
		"12345":                               0,
	} {
		if got := len(findTypes(t, e, text, RedactOptions{})); got != want {
			t.Errorf("%q: %d findings, want %d", text, got, want)
		}
	}
}

func TestTestRulesReportsFailures(t *testing.T) {
	fails, err := TestRules(Config{Defaults: new(bool), Rules: []RuleSpec{{
		ID: "x", Type: "x", Pattern: `\d{4}`, Keywords: []string{"pin"},
		Tests: TestsSpec{Match: []string{"pin 1234", "1234"}, NoMatch: []string{"pin 9999"}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []SampleFailure{{Rule: "x", Sample: "1234", Want: "match"}, {Rule: "x", Sample: "pin 9999", Want: "no_match"}}
	if fmt.Sprint(fails) != fmt.Sprint(want) {
		t.Fatalf("got %+v, want %+v", fails, want)
	}
	if _, err := TestRules(Config{Rules: []RuleSpec{{ID: "bad"}}}); err == nil {
		t.Fatal("TestRules accepted a broken rule")
	}
}
