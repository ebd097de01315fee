package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/veilproxy/veil/detectors"
)

// wsTestEnv scans with the default engine and records the options each
// value was scanned with.
func wsTestEnv(t testing.TB, isJSON bool, seen *[]detectors.RedactOptions) *wsEnv {
	t.Helper()
	e := sseTestEngine(t)
	skip, _ := compilePaths([]string{"$.id"})
	strict, _ := compilePaths([]string{"$.preview"})
	return &wsEnv{
		json: isJSON, skip: skip, strict: strict,
		redact: func(ctx context.Context, direction string, text []byte, opts detectors.RedactOptions) ([]byte, []detectors.Finding, error) {
			if seen != nil {
				opts.Preceding = append([]byte(nil), opts.Preceding...)
				*seen = append(*seen, opts)
			}
			return e.Redact(ctx, text, opts)
		},
	}
}

func TestWebSocketScanMessages(t *testing.T) {
	e := sseTestEngine(t)
	masked := func(v string) string {
		out, _, err := e.Redact(context.Background(), []byte(v), detectors.RedactOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if string(out) == v {
			t.Fatalf("the engine does not mask the test value")
		}
		return string(out)
	}
	const card = "4111 1111 1111 1111"
	tests := []struct {
		name string
		json bool
		in   string
		want string // %[1]s: the card masked
	}{
		{"json string", true, `{"text":"` + card + `"}`, `{"text":"%[1]s"}`},
		{"json skip", true, `{"id":"` + card + `","text":"x"}`, `{"id":"` + card + `","text":"x"}`},
		{"escapes kept", true, `{"a":"\u00e9","text":"ok"}`, `{"a":"\u00e9","text":"ok"}`},
		{"socket.io", true, `42["chat",{"text":"` + card + `"}]`, `42["chat",{"text":"%[1]s"}]`},
		{"engine.io ping", true, `2`, `2`},
		{"not json", true, `{"text": ` + card, `{"text": %[1]s`},
		{"text route", false, `{"text":"` + card + `"}`, `{"text":"%[1]s"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newWSScanner(wsTestEnv(t, tt.json, nil), "request")
			got, err := s.scan(context.Background(), []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if strings.Contains(want, "%[1]s") {
				want = fmt.Sprintf(want, masked(card))
			}
			if string(got) != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
	t.Run("json number", func(t *testing.T) {
		s := newWSScanner(wsTestEnv(t, true, nil), "request")
		got, err := s.scan(context.Background(), []byte(`{"n":4111111111111111}`))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(got), "4111111111111111") || !json.Valid(got) {
			t.Fatalf("number literal: %q", got)
		}
	})
}

func TestWebSocketScanTails(t *testing.T) {
	var seen []detectors.RedactOptions
	s := newWSScanner(wsTestEnv(t, true, &seen), "request")
	ctx := context.Background()
	for _, m := range []string{`{"text":"4111 1111"}`, `{"other":"zz"}`, `{"text":"1111 1111"}`, `{"preview":"123"}`} {
		if _, err := s.scan(ctx, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if string(seen[2].Preceding) != "4111 1111" {
		t.Errorf("preceding for the same field = %q", seen[2].Preceding)
	}
	if len(seen[1].Preceding) != 0 {
		t.Errorf("another field got preceding %q", seen[1].Preceding)
	}
	if !seen[3].Strict || seen[2].Strict {
		t.Errorf("strict flags: %v %v", seen[3].Strict, seen[2].Strict)
	}
	long := `{"text":"` + strings.Repeat("a", 3*wsTailSize) + `"}`
	if _, err := s.scan(ctx, []byte(long)); err != nil {
		t.Fatal(err)
	}
	if n := len(s.fields[tailKey([]string{"text"})].tail); n != wsTailSize {
		t.Errorf("tail holds %d bytes, want %d", n, wsTailSize)
	}
	for i := 0; i < 3*wsMaxTails; i++ {
		if _, err := s.scan(ctx, []byte(`{"k`+strings.Repeat("x", i)+`":"v"}`)); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.fields) > wsMaxTails || len(s.order) != len(s.fields) {
		t.Errorf("%d tails kept, bound %d", len(s.fields), wsMaxTails)
	}
}

func TestSecureCommandParse(t *testing.T) {
	tests := []struct {
		in   string
		form string
		ok   bool
	}{
		{"/secure payment", "payment", true},
		{"  /secure   insurance \n", "insurance", true},
		{"/secure", "", false},
		{"/securepayment", "", false},
		{"/secure two words", "", false},
		{"please /secure payment", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			form, ok := secureCommand([]byte(tt.in))
			if form != tt.form || ok != tt.ok {
				t.Fatalf("got %q %v", form, ok)
			}
		})
	}
}

// FuzzWebSocketScan checks that scanning any message never panics and that
// a JSON message stays JSON.
func FuzzWebSocketScan(f *testing.F) {
	f.Add([]byte(`{"text":"4111 1111 1111 1111","n":[1,2,{"x":"\ud83d\ude00"}]}`))
	f.Add([]byte(`42["m",{"t":"123-45-6789"}]`))
	f.Add([]byte("\xff\x00{"))
	env := wsTestEnv(f, true, nil)
	f.Fuzz(func(t *testing.T, msg []byte) {
		s := newWSScanner(env, "response")
		out, err := s.scan(context.Background(), msg)
		if err != nil {
			return
		}
		if json.Valid(msg) && !json.Valid(out) {
			t.Fatalf("JSON message %q became %q", msg, out)
		}
	})
}

func TestQuestionOf(t *testing.T) {
	long := strings.Repeat("x", 200) + "?"
	tests := []struct{ released, want string }{
		{"What are the last 4 of your SSN?", "What are the last 4 of your SSN?\n"},
		{"Card number:  \n", "Card number:\n"},
		{"thanks\nYour date of birth?", "Your date of birth?\n"},
		{"ok, thanks", ""},
		{"", ""},
		{long, long[len(long)-wsQuestionSize:] + "\n"},
	}
	for _, tt := range tests {
		if got := string(questionOf([]byte(tt.released))); got != tt.want {
			t.Errorf("questionOf(%q) = %q, want %q", tt.released, got, tt.want)
		}
	}
}
