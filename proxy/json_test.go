package proxy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// identity visits every value and changes nothing.
func identity([]string, string, bool) (string, bool, error) { return "", false, nil }

func TestRewriteJSONVisits(t *testing.T) {
	type visit struct {
		at    string
		value string
		num   bool
	}
	tests := []struct {
		name string
		doc  string
		want []visit
	}{
		{"scalar string", `"x"`, []visit{{"", "x", false}}},
		{"scalar number", ` -1.5e+3 `, []visit{{"", "-1.5e+3", true}}},
		{"literals skipped", `[true,false,null]`, nil},
		{"nested", `{"a":{"b":[1,"two",{"c":"3"}]}}`, []visit{
			{"a.b.0", "1", true}, {"a.b.1", "two", false}, {"a.b.2.c", "3", false},
		}},
		{"keys are not values", `{"4111111111111111":"v"}`, []visit{{"4111111111111111", "v", false}}},
		{"escapes decoded", `{"k":"\u0034\u0031\"\\\/\b\f\n\r\t"}`, []visit{{"k", "41\"\\/\b\f\n\r\t", false}}},
		{"surrogate pair", `["\ud83d\ude00"]`, []visit{{"0", "😀", false}}},
		{"lone surrogate", `["\ud83dx"]`, []visit{{"0", "\ufffdx", false}}},
		{"escaped key", `{"a\u0062":"v"}`, []visit{{"ab", "v", false}}},
		{"empty containers", `{"a":[],"b":{}}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []visit
			out, err := rewriteJSON([]byte(tt.doc), func(at []string, v string, num bool) (string, bool, error) {
				got = append(got, visit{strings.Join(at, "."), v, num})
				return "", false, nil
			})
			if err != nil {
				t.Fatalf("rewriteJSON: %v", err)
			}
			if string(out) != tt.doc {
				t.Errorf("output %q, want input unchanged", out)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("visits %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("visit %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestRewriteJSONReplaces(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		rep  map[string]string // value -> replacement
		want string
	}{
		{
			name: "bytes around replacement preserved",
			doc:  "{ \"b\" :\t\"secret 4111\" ,\n \"a\": \"\\u0041keep\" }",
			rep:  map[string]string{"secret 4111": "secret ****"},
			want: "{ \"b\" :\t\"secret ****\" ,\n \"a\": \"\\u0041keep\" }",
		},
		{
			name: "escaped input replaced",
			doc:  `{"m":"\u0034111"}`,
			rep:  map[string]string{"4111": "****"},
			want: `{"m":"****"}`,
		},
		{
			name: "number becomes string",
			doc:  `{"n":4111111111111111,"m":2}`,
			rep:  map[string]string{"4111111111111111": "[CARD]"},
			want: `{"n":"[CARD]","m":2}`,
		},
		{
			name: "replacement escaped",
			doc:  `["x","y"]`,
			rep:  map[string]string{"x": "a\"b\\c\nd\x01\u2028"},
			want: `["a\"b\\c\nd\u0001\u2028","y"]`,
		},
		{
			name: "several in arrays",
			doc:  `[["x"],["x",{"x":"x"}]]`,
			rep:  map[string]string{"x": "yy"},
			want: `[["yy"],["yy",{"x":"yy"}]]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := rewriteJSON([]byte(tt.doc), func(_ []string, v string, _ bool) (string, bool, error) {
				r, ok := tt.rep[v]
				return r, ok, nil
			})
			if err != nil {
				t.Fatalf("rewriteJSON: %v", err)
			}
			if string(out) != tt.want {
				t.Errorf("got  %s\nwant %s", out, tt.want)
			}
			if !json.Valid(out) {
				t.Errorf("output is not valid JSON: %s", out)
			}
		})
	}
}

func TestRewriteJSONMalformed(t *testing.T) {
	secret := "4111111111111111"
	docs := []string{
		``, ` `, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[1 2]`, `"abc`, `"a` + "\x01" + `"`,
		`"\x"`, `"\u12"`, `01`, `1.`, `1e`, `-`, `tru`, `nul`, `{"a":1}x`, `{"` + secret + `":` + secret + `,`,
		strings.Repeat("[", maxJSONDepth+2) + strings.Repeat("]", maxJSONDepth+2),
	}
	for _, doc := range docs {
		t.Run(doc[:min(len(doc), 20)], func(t *testing.T) {
			_, err := rewriteJSON([]byte(doc), identity)
			if !errors.Is(err, errMalformed) {
				t.Fatalf("err = %v, want errMalformed", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains input", err)
			}
			if json.Valid([]byte(doc)) {
				t.Errorf("encoding/json accepts %q", doc)
			}
		})
	}
}

func TestRewriteJSONVisitError(t *testing.T) {
	stop := errors.New("stop")
	_, err := rewriteJSON([]byte(`{"a":"x"}`), func([]string, string, bool) (string, bool, error) { return "", false, stop })
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want the visitor's error", err)
	}
}

func TestJSONPath(t *testing.T) {
	tests := []struct {
		path  string
		at    string // dot-joined
		match bool
		cover bool
	}{
		{"$", "", true, true},
		{"$", "a", false, true},
		{"$.a", "a", true, true},
		{"$.a", "a.b", false, true},
		{"$.a", "b", false, false},
		{"$.choices[*].delta.content", "choices.0.delta.content", true, true},
		{"$.choices[*].delta.content", "choices.12.delta.content", true, true},
		{"$.choices[*].delta.content", "choices.0.delta", false, false},
		{"$['odd key'][0]", "odd key.0", true, true},
		{`$["q\"k"]`, `q"k`, true, true},
		{"$.a[1]", "a.0", false, false},
		{"$.*.id", "x.id", true, true},
		{"a.b", "a.b", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.path+"~"+tt.at, func(t *testing.T) {
			p, err := parseJSONPath(tt.path)
			if err != nil {
				t.Fatalf("parseJSONPath: %v", err)
			}
			var at []string
			if tt.at != "" {
				at = strings.Split(tt.at, ".")
			}
			if got := p.match(at); got != tt.match {
				t.Errorf("match = %v, want %v", got, tt.match)
			}
			if got := p.covers(at); got != tt.cover {
				t.Errorf("covers = %v, want %v", got, tt.cover)
			}
		})
	}
}

func TestJSONPathErrors(t *testing.T) {
	for _, s := range []string{"", "$.", "$..a", "$[", "$[x]", "$['a'", "$[1", "$[*", "$a", "$.a b", "$[99999999999999999999]"} {
		t.Run(s, func(t *testing.T) {
			if _, err := parseJSONPath(s); err == nil {
				t.Fatalf("parseJSONPath(%q) succeeded", s)
			}
		})
	}
}

func FuzzRewriteJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `[]`, `"x"`, `0`, `-0.5e-7`, `{"a":[1,"b",{"c":null}]}`, `"\ud83d\ude00\u0034"`,
		`{"card":"4111 1111 1111 1111","n":4111111111111111}`, ` [ "a" , true ] `, `{"a"`, `"\ud800"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		out, err := rewriteJSON(doc, identity)
		valid := json.Valid(doc)
		if valid != (err == nil) {
			t.Fatalf("json.Valid = %v, rewriteJSON error = %v", valid, err)
		}
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			return
		}
		if string(out) != string(doc) {
			t.Fatalf("identity rewrite changed the document")
		}
		// Replacing every value keeps the document valid and decodes to the
		// replacement.
		out, err = rewriteJSON(doc, func(_ []string, v string, _ bool) (string, bool, error) { return v + "\"<\u2028", true, nil })
		if err != nil {
			t.Fatalf("rewrite: %v", err)
		}
		if !json.Valid(out) {
			t.Fatalf("rewritten document is not valid JSON: %q", out)
		}
	})
}

func FuzzJSONPath(f *testing.F) {
	for _, s := range []string{"$", "$.a", "$.choices[*].delta.content", "$['a b'][0]", `$["x\"y"]`, "$.*", "$[", "a.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseJSONPath(s)
		if err != nil {
			return
		}
		at := make([]string, len(p.segs))
		for i, seg := range p.segs {
			at[i] = seg.key
			if seg.wildcard {
				at[i] = "anything"
			}
		}
		if !p.match(at) || !p.covers(append(at, "below")) {
			t.Fatalf("path %q does not match its own segments", s)
		}
		if p.match(append(at, "below")) {
			t.Fatalf("path %q matches a longer path", s)
		}
	})
}
