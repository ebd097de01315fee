package forms

import (
	"strings"
	"testing"
	"time"

	"github.com/veilproxy/veil/detectors"
)

func TestDefaultFormsValid(t *testing.T) {
	specs := DefaultForms()
	if err := ValidateSpecs(specs); err != nil {
		t.Fatalf("DefaultForms: %v", err)
	}
	names := map[string]FormSpec{}
	for _, s := range specs {
		names[s.Name] = s
	}
	for _, want := range []string{"payment", "insurance", "identity"} {
		if _, ok := names[want]; !ok {
			t.Errorf("default form %q missing", want)
		}
	}
	if !names["payment"].oneTime() {
		t.Error("payment form: the security code must be one_time")
	}
	for _, s := range specs {
		for _, f := range s.Fields {
			if !f.IsSensitive() {
				t.Errorf("%s.%s: default fields are sensitive", s.Name, f.Name)
			}
		}
	}
}

// pos is a config position as the loader records it.
func pos(line int, keys map[string]int) detectors.Pos {
	return detectors.Pos{File: "veil.yaml", Line: line, Keys: keys}
}

func field(name, tag string) FieldSpec {
	return FieldSpec{Name: name, Label: "Label " + name, Validate: tag}
}

func TestValidateSpecsErrors(t *testing.T) {
	tests := []struct {
		name  string
		specs []FormSpec
		want  []string // each must appear in one line of the joined error
	}{
		{
			name: "unknown tag",
			specs: []FormSpec{{Pos: pos(10, map[string]int{"fields": 14}), Name: "payment", Fields: []FieldSpec{
				field("card", "required,cardnumber"),
			}}},
			want: []string{`veil.yaml:14: form "payment": field "card": validate: unknown tag "cardnumber"`},
		},
		{
			name: "field position recorded",
			specs: []FormSpec{{Pos: pos(10, map[string]int{"fields": 14}), Name: "payment", Fields: []FieldSpec{
				{Pos: pos(15, map[string]int{"validate": 17}), Name: "card", Label: "Card", Validate: "required,len=x"},
			}}},
			want: []string{`veil.yaml:17: form "payment": field "card": validate: invalid tag`},
		},
		{
			name: "duplicate names",
			specs: []FormSpec{
				{Pos: pos(3, map[string]int{"name": 3}), Name: "a", Fields: []FieldSpec{field("x", ""), field("x", "")}},
				{Pos: pos(8, map[string]int{"name": 8}), Name: "a", Fields: []FieldSpec{field("y", "")}},
			},
			want: []string{
				`form "a": field "x": name: duplicate field name "x"`,
				`veil.yaml:8: form "a": name: duplicate form name "a"`,
			},
		},
		{
			name:  "bad ttl and purge",
			specs: []FormSpec{{Pos: pos(20, map[string]int{"ttl": 22, "purge": 23}), Name: "f", TTL: -time.Hour, Purge: "never", Fields: []FieldSpec{field("x", "")}}},
			want: []string{
				`veil.yaml:22: form "f": ttl:`,
				`veil.yaml:23: form "f": purge: "never" is not on_view or on_schedule`,
			},
		},
		{
			name:  "ttl too long",
			specs: []FormSpec{{Pos: pos(20, map[string]int{"ttl": 21}), Name: "f", TTL: 365 * 24 * time.Hour, Fields: []FieldSpec{field("x", "")}}},
			want:  []string{`veil.yaml:21: form "f": ttl:`},
		},
		{
			name:  "missing parts",
			specs: []FormSpec{{Pos: pos(30, nil), Fields: []FieldSpec{{Name: "1bad", Input: "checkbox"}}}},
			want: []string{
				`veil.yaml:30: form #1: name: required`,
				`field "1bad": name:`,
				`field "1bad": label: required`,
				`field "1bad": input: "checkbox"`,
			},
		},
		{
			name:  "no fields",
			specs: []FormSpec{{Pos: pos(40, map[string]int{"name": 40}), Name: "empty"}},
			want:  []string{`veil.yaml:40: form "empty": fields: a form needs at least one field`},
		},
		{
			name:  "reveal_again needs on_schedule",
			specs: []FormSpec{{Name: "f", RevealAgain: true, Fields: []FieldSpec{field("x", "")}}},
			want:  []string{`form "f": reveal_again: needs purge: on_schedule`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateSpecs(tt.specs)
			if err == nil {
				t.Fatal("no error")
			}
			lines := strings.Split(err.Error(), "\n")
			for _, w := range tt.want {
				found := false
				for _, l := range lines {
					if strings.HasPrefix(l, w) || (strings.Contains(l, w) && !strings.HasPrefix(w, "veil.yaml")) {
						found = true
					}
				}
				if !found {
					t.Errorf("no line starting with %q in:\n%v", w, err)
				}
			}
			if len(lines) < len(tt.want) {
				t.Errorf("%d problems reported, want at least %d (all at once)", len(lines), len(tt.want))
			}
		})
	}
}

// TestValidateSpecsAllAtOnce checks problems in several forms and fields
// come back together.
func TestValidateSpecsAllAtOnce(t *testing.T) {
	specs := []FormSpec{
		{Name: "a", Purge: "x", Fields: []FieldSpec{field("f1", "bogus1"), field("f2", "bogus2")}},
		{Name: "b", TTL: time.Second, Fields: []FieldSpec{field("g", "required")}},
	}
	err := ValidateSpecs(specs)
	if err == nil {
		t.Fatal("no error")
	}
	if n := len(strings.Split(err.Error(), "\n")); n != 4 {
		t.Fatalf("%d problems, want 4:\n%v", n, err)
	}
}
