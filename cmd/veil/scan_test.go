package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/veilproxy/veil/detectors"
)

// update rewrites the golden files under testdata/ instead of comparing.
var update = flag.Bool("update", false, "rewrite golden files")

// Values used across the command tests; none may appear on stderr.
const (
	testCard = "4111 1111 1111 1111"
	testMBI  = "1EG4-TE5-MK73"
	testRef  = "ACME-REF-884213"
)

// scanTestConfig is a complete config file with one rule of its own, for
// --config. The defaults stay on.
const scanTestConfig = `upstream: https://chat.example.com
data_dir: /var/lib/veil
vault: {key: {env: VEIL_MASTER_KEY}}
detectors:
  rules:
    - id: acme_ref
      type: acme_ref
      pattern: '\bACME-REF-(?<v>\d{6})\b'
      keywords: [acme-ref]
      tests:
        match: ["ref ACME-REF-123456"]
        no_match: ["ref ACME-REF-12"]
`

// result is what one in-process run of the binary produced.
type result struct {
	code   int
	stdout string
	stderr string
}

// runVeil runs the command line args in process with stdin.
func runVeil(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), args, stdio{
		In:     strings.NewReader(stdin),
		Out:    &out,
		Err:    &errOut,
		Getenv: func(string) string { return "" },
	})
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// writeFile writes content to name in a fresh temp dir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// assertNoSecrets fails when stderr holds any of the test values.
func assertNoSecrets(t *testing.T, stderr string) {
	t.Helper()
	for _, v := range []string{testCard, "4111111111111111", testMBI, testRef, "884213"} {
		if strings.Contains(stderr, v) {
			t.Errorf("stderr holds a scanned value: %q", stderr)
		}
	}
}

func TestScanText(t *testing.T) {
	cfg := writeFile(t, "veil.yaml", scanTestConfig)
	withCard := writeFile(t, "card.txt", "hi\nmy card is "+testCard+" thanks\n")
	clean := writeFile(t, "clean.txt", "see you at 10:30 tomorrow\n")
	cases := []struct {
		name       string
		stdin      string
		args       []string
		wantCode   int
		wantOut    []string // substrings of stdout
		notOut     []string // never in stdout
		wantErr    string   // substring of stderr
		exactClean bool     // stdout equals the input
	}{
		{name: "card on stdin", stdin: "pay with " + testCard + " please", args: []string{"scan"},
			wantCode: exitFound, wantOut: []string{"pay with ", " please"}, notOut: []string{testCard, "1111 1111 1111"}},
		{name: "nothing found", stdin: "see you at 10:30 tomorrow\n", args: []string{"scan"},
			wantCode: exitClean, exactClean: true},
		{name: "empty input", stdin: "", args: []string{"scan"}, wantCode: exitClean, exactClean: true},
		{name: "files in order", args: []string{"scan", clean, withCard},
			wantCode: exitFound, wantOut: []string{"see you at 10:30 tomorrow\nhi\nmy card is "}, notOut: []string{testCard}},
		{name: "dash is stdin", stdin: "medicare " + testMBI, args: []string{"scan", clean, "-"},
			wantCode: exitFound, wantOut: []string{"see you at 10:30"}, notOut: []string{testMBI}},
		{name: "custom rule needs config", stdin: "ticket " + testRef, args: []string{"scan"},
			wantCode: exitClean, exactClean: true},
		{name: "custom rule from config", stdin: "ticket " + testRef, args: []string{"scan", "--config", cfg},
			wantCode: exitFound, wantOut: []string{"ticket "}, notOut: []string{"884213"}},
		{name: "flag after file", args: []string{"scan", clean, "--config", cfg},
			wantCode: exitClean, wantOut: []string{"see you at 10:30 tomorrow\n"}},
		{name: "missing file", args: []string{"scan", filepath.Join(t.TempDir(), "nope.txt")},
			wantCode: exitError, wantErr: "nope.txt"},
		{name: "missing file wins over findings", args: []string{"scan", withCard, filepath.Join(t.TempDir(), "nope.txt")},
			wantCode: exitError, wantErr: "nope.txt", notOut: []string{testCard}},
		{name: "missing config", stdin: "x", args: []string{"scan", "--config", filepath.Join(t.TempDir(), "none.yaml")},
			wantCode: exitError, wantErr: "none.yaml"},
		{name: "unknown flag", args: []string{"scan", "--fast"}, wantCode: exitError, wantErr: "fast"},
		{name: "help", args: []string{"scan", "-h"}, wantCode: exitClean, wantErr: "usage: veil scan"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runVeil(t, tc.stdin, tc.args...)
			if r.code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", r.code, tc.wantCode, r.stderr)
			}
			for _, s := range tc.wantOut {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout %q lacks %q", r.stdout, s)
				}
			}
			for _, s := range tc.notOut {
				if strings.Contains(r.stdout, s) {
					t.Errorf("stdout %q still holds %q", r.stdout, s)
				}
			}
			if tc.exactClean && r.stdout != tc.stdin {
				t.Errorf("stdout %q, want the input unchanged", r.stdout)
			}
			if !strings.Contains(r.stderr, tc.wantErr) {
				t.Errorf("stderr %q lacks %q", r.stderr, tc.wantErr)
			}
			if tc.wantErr == "" && tc.wantCode != exitError && r.stderr != "" {
				t.Errorf("unexpected stderr %q", r.stderr)
			}
			assertNoSecrets(t, r.stderr)
		})
	}
}

func TestScanBadConfigNamesTheLine(t *testing.T) {
	cfg := writeFile(t, "bad.yaml", `upstream: https://chat.example.com
data_dir: /var/lib/veil
vault: {key: {env: VEIL_MASTER_KEY}}
detectors:
  rules:
    - id: broken
      type: acme_ref
      pattern: '(unclosed'
`)
	r := runVeil(t, "text "+testCard, "scan", "--config", cfg)
	if r.code != exitError {
		t.Fatalf("exit %d, want %d", r.code, exitError)
	}
	if !strings.Contains(r.stderr, "bad.yaml:") || !strings.Contains(r.stderr, "broken") {
		t.Errorf("stderr %q should name the file, line and rule", r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing on a config error", r.stdout)
	}
	assertNoSecrets(t, r.stderr)
}

// TestScanTextStreamsLikeRedact checks that text mode, which reads in
// chunks and streams them through the engine, writes what a one-shot
// Redact of the whole input gives, with values across chunk edges.
func TestScanTextStreamsLikeRedact(t *testing.T) {
	var b strings.Builder
	for b.Len() < 3*scanChunk {
		b.WriteString("order 5512 shipped, call 415-555-0132 about the refund. ")
	}
	for _, at := range []int{scanChunk - 7, 2*scanChunk - 2} {
		s := b.String()
		b.Reset()
		b.WriteString(s[:at] + " card " + testCard + " mbi " + testMBI + " " + s[at:])
	}
	in := b.String()
	eng, err := detectors.Compile(detectors.Config{})
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := eng.Redact(t.Context(), []byte(in), detectors.RedactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	readers := map[string]func() io.Reader{
		"full reads":  func() io.Reader { return strings.NewReader(in) },
		"short reads": func() io.Reader { return iotest.HalfReader(strings.NewReader(in)) },
		"odd reads":   func() io.Reader { return io.MultiReader(strings.NewReader(in[:12345]), strings.NewReader(in[12345:])) },
	}
	for name, newReader := range readers {
		var out bytes.Buffer
		found, err := scanText(t.Context(), eng, newReader(), &out)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !found {
			t.Errorf("%s: nothing found", name)
		}
		if out.String() != string(want) {
			t.Errorf("%s: streamed output differs from Redact of the whole input", name)
		}
		if strings.Contains(out.String(), testCard) || strings.Contains(out.String(), testMBI) {
			t.Errorf("%s: a value survived", name)
		}
	}
}

const jsonlInputText = `{"id": 1, "text": "my card is 4111 1111 1111 1111, exp 09/27"}
{"id": "msg-2", "text": "see you at 10:30"}

{"id": {"conv": 7, "seq": 3}, "text": "Medicare 1EG4-TE5-MK73 and SSN 536-22-1234"}
{"text": "no id here, card:5555555555554444"}
{"id": null, "text": "ünïcödé first: 4242-4242-4242-4242 <b>&</b>"}
`

func TestScanJSONLGolden(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		golden string
	}{
		{"values", []string{"scan", "--jsonl"}, "scan_jsonl.golden"},
		{"no values", []string{"scan", "--jsonl", "--no-values"}, "scan_jsonl_novalues.golden"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runVeil(t, jsonlInputText, tc.args...)
			if r.code != exitFound {
				t.Fatalf("exit %d, want %d; stderr: %s", r.code, exitFound, r.stderr)
			}
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, []byte(r.stdout), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading golden file (run with -update to create it): %v", err)
			}
			if r.stdout != string(want) {
				t.Errorf("output differs from %s (run with -update after checking):\n got: %s\nwant: %s", path, r.stdout, want)
			}
		})
	}
}

// TestScanJSONLContract checks the properties the golden files only
// illustrate: one output line per input object, ids echoed verbatim,
// offsets into the input text with value the exact substring, no value
// with --no-values, and masked text without the values.
func TestScanJSONLContract(t *testing.T) {
	var inputs []jsonlInput
	for _, l := range strings.Split(jsonlInputText, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		var in jsonlInput
		if err := json.Unmarshal([]byte(l), &in); err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, in)
	}
	for _, noValues := range []bool{false, true} {
		args := []string{"scan", "--jsonl"}
		if noValues {
			args = append(args, "--no-values")
		}
		r := runVeil(t, jsonlInputText, args...)
		if r.code != exitFound {
			t.Fatalf("exit %d, want %d; stderr: %s", r.code, exitFound, r.stderr)
		}
		outLines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if len(outLines) != len(inputs) {
			t.Fatalf("no-values=%v: %d output lines for %d inputs", noValues, len(outLines), len(inputs))
		}
		for i, l := range outLines {
			var raw map[string]json.RawMessage
			if err := json.Unmarshal([]byte(l), &raw); err != nil {
				t.Fatalf("output line %d is not JSON: %v", i+1, err)
			}
			var out struct {
				ID       json.RawMessage `json:"id"`
				Masked   string          `json:"masked"`
				Findings []struct {
					Type, Rule string
					Start, End int
					Value      *string
				} `json:"findings"`
			}
			if err := json.Unmarshal([]byte(l), &out); err != nil {
				t.Fatal(err)
			}
			wantID := string(inputs[i].ID)
			if wantID == "" {
				wantID = "null"
			}
			var gotID, wantCompact bytes.Buffer
			_ = json.Compact(&gotID, out.ID)
			_ = json.Compact(&wantCompact, []byte(wantID))
			if gotID.String() != wantCompact.String() {
				t.Errorf("line %d: id %s, want %s", i+1, out.ID, wantID)
			}
			if _, ok := raw["findings"]; !ok {
				t.Errorf("line %d: findings missing", i+1)
			}
			text := *inputs[i].Text
			for _, f := range out.Findings {
				if f.Start < 0 || f.End > len(text) || f.Start >= f.End || f.Type == "" || f.Rule == "" {
					t.Fatalf("line %d: bad finding %+v", i+1, f)
				}
				switch {
				case noValues && f.Value != nil:
					t.Errorf("line %d: value present with --no-values", i+1)
				case !noValues && (f.Value == nil || *f.Value != text[f.Start:f.End]):
					t.Errorf("line %d: value is not text[%d:%d]", i+1, f.Start, f.End)
				}
				if f.Type == "card" && strings.Contains(out.Masked, text[f.Start:f.End]) {
					t.Errorf("line %d: masked text still holds the card", i+1)
				}
			}
			if noValues {
				for _, v := range []string{"4111 1111 1111 1111", "1EG4-TE5-MK73", "536-22-1234", "5555555555554444"} {
					if strings.Contains(l, v) {
						t.Errorf("line %d: --no-values output holds a value", i+1)
					}
				}
			}
		}
	}
}

func TestScanJSONLMalformed(t *testing.T) {
	good := `{"id": 1, "text": "card 4111 1111 1111 1111"}` + "\n"
	cases := []struct {
		name, input, wantErr string
	}{
		{"not json", good + "SSN 536-22-1234 4111111111111111\n", "line 2"},
		{"text not a string", good + good + `{"id": 2, "text": 4111111111111111}` + "\n", "line 3"},
		{"no text", `{"id": 9, "body": "4111111111111111"}` + "\n", "line 1"},
		{"array", `["4111111111111111"]` + "\n", "line 1"},
		{"two values", good + `{"text": "a"} {"text": "4111111111111111"}` + "\n", "line 2"},
		{"truncated", good + `{"id": 3, "text": "4111 1111 1111 1111` + "\n", "line 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runVeil(t, tc.input, "scan", "--jsonl")
			if r.code != exitError {
				t.Fatalf("exit %d, want %d", r.code, exitError)
			}
			if !strings.Contains(r.stderr, tc.wantErr) {
				t.Errorf("stderr %q lacks %q", r.stderr, tc.wantErr)
			}
			for _, v := range []string{"4111", "536-22", "body"} {
				if strings.Contains(r.stderr, v) {
					t.Errorf("stderr %q holds input text %q", r.stderr, v)
				}
			}
		})
	}
}

func TestInteractiveScan(t *testing.T) {
	eng, err := detectors.Compile(detectors.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	in := "my card is " + testCard + "\nnothing here\n"
	code := runInteractiveScan(t.Context(), stdio{In: strings.NewReader(in), Out: &out, Err: &errOut}, eng)
	if code != exitClean {
		t.Fatalf("exit %d; stderr %s", code, errOut.String())
	}
	_, got, ok := strings.Cut(out.String(), "> ")
	if !ok {
		t.Fatalf("no prompt in %q", out.String())
	}
	if strings.Contains(got, testCard) {
		t.Errorf("output holds the card: %q", got)
	}
	for _, want := range []string{"my card is ", "card", "nothing found"} {
		if !strings.Contains(got, want) {
			t.Errorf("output %q lacks %q", got, want)
		}
	}
}

var lineErrorForm = regexp.MustCompile(`^line \d+: (invalid JSON at byte \d+|invalid JSON|"text" must be a string|want a JSON object with "id" and "text"|missing "text"|more than one JSON value on the line)$`)

// FuzzScanJSONL feeds arbitrary input to --jsonl: it never panics, every
// output line is a JSON object whose findings lie inside the input text,
// and an error message is one of the fixed forms, never input text.
func FuzzScanJSONL(f *testing.F) {
	for _, s := range []string{
		jsonlInputText,
		`{"id": 1, "text": "card 4111 1111 1111 1111"}`,
		`{"text": "\u0034111 1111 1111 1111"}` + "\n" + `{"text": 5}`,
		`{"id": [1, {"a": null}], "text": ""}`,
		`{"text": "a"} {"text": "b"}`,
		`{"text": "x", "text": "y"}`,
		"\xff\xfe{",
		`{"id": 1, "text": "SSN 536-22-1234` + "\n",
	} {
		f.Add(s)
	}
	eng, err := detectors.Compile(detectors.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var out bytes.Buffer
		_, err := scanJSONL(t.Context(), eng, strings.NewReader(in), &out, true)
		if err != nil {
			var le *lineError
			if !errors.As(err, &le) {
				t.Fatalf("error %v is not a line error", err)
			}
			if !lineErrorForm.MatchString(err.Error()) {
				t.Fatalf("unexpected error form %q", err.Error())
			}
		}
		dec := json.NewDecoder(&out)
		for dec.More() {
			var res struct {
				Masked   *string `json:"masked"`
				Findings []struct {
					Start, End int
					Value      string
				} `json:"findings"`
			}
			if err := dec.Decode(&res); err != nil {
				t.Fatalf("output is not JSON: %v", err)
			}
			if res.Masked == nil || res.Findings == nil {
				t.Fatalf("output line lacks masked or findings")
			}
			for _, f := range res.Findings {
				if f.Start < 0 || f.End <= f.Start || len(f.Value) != f.End-f.Start {
					t.Fatalf("finding [%d,%d) with a %d-byte value", f.Start, f.End, len(f.Value))
				}
			}
		}
	})
}

// BenchmarkScanText measures text mode end to end in process (chunked
// reads, the engine's stream, output) next to one Redact of the whole
// text, which bounds what the command can reach.
func BenchmarkScanText(b *testing.B) {
	eng, err := detectors.Compile(detectors.Config{})
	if err != nil {
		b.Fatal(err)
	}
	var text bytes.Buffer
	for i := 0; text.Len() < 4<<20; i++ {
		text.WriteString("[10:32] Maria: I was charged twice for order 48213 and would like a refund please\n")
		if i%50 == 0 {
			text.WriteString("[10:33] Maria: my card is 4111 1111 1111 1111 exp 09/28\n")
		}
	}
	b.Run("command", func(b *testing.B) {
		b.SetBytes(int64(text.Len()))
		for b.Loop() {
			if _, err := scanText(b.Context(), eng, bytes.NewReader(text.Bytes()), io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("redact-whole", func(b *testing.B) {
		b.SetBytes(int64(text.Len()))
		for b.Loop() {
			if _, _, err := eng.Redact(b.Context(), text.Bytes(), detectors.RedactOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
