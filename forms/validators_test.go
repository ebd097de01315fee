package forms

import (
	"strings"
	"testing"
	"time"
)

// fixedNow is the clock of the validator tests: 15 March 2026.
func fixedNow() time.Time { return time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC) }

func TestVeilValidators(t *testing.T) {
	v := newValidator(fixedNow)
	tests := []struct {
		tag, value string
		ok         bool
	}{
		{"ssn", "219-09-9998", true},
		{"ssn", "219 09 9998", true},
		{"ssn", "219099998", true},
		{"ssn", "000-12-3456", false},
		{"ssn", "666-12-3456", false},
		{"ssn", "900-12-3456", false},
		{"ssn", "219-00-9998", false},
		{"ssn", "219-09-0000", false},
		{"ssn", "078-05-1120", false}, // the advertised Woolworth number
		{"ssn", "21909999", false},
		{"ssn", "21909999a", false},
		{"npi", "1234567893", true},
		{"npi", "1234-567-893", true},
		{"npi", "1234567890", false},
		{"npi", "123456789", false},
		{"mbi", "1EG4-TE5-MK73", true},
		{"mbi", "1eg4te5mk73", true},
		{"mbi", "1EG4TE5MK7", false},
		{"mbi", "0EG4TE5MK73", false},
		{"mbi", "1SG4TE5MK73", false},
		{"luhn", "79927398713", true},
		{"luhn", "7992 7398 713", true},
		{"luhn", "79927398710", false},
		{"luhn", "7992739871x", false},
		{"card", "4111 1111 1111 1111", true},
		{"card", "4111-1111-1111-1111", true},
		{"card", "5555555555554444", true},
		{"card", "378282246310005", true},
		{"card", "4111 1111 1111 1112", false},
		{"card", "79927398713", false}, // Luhn-valid, no card brand
		{"card", "", false},
		{"card_expiry", "03/26", true}, // this month is still valid
		{"card_expiry", "12/30", true},
		{"card_expiry", " 04 / 27 ", true},
		{"card_expiry", "02/26", false}, // last month
		{"card_expiry", "13/27", false},
		{"card_expiry", "00/27", false},
		{"card_expiry", "4/27", false},
		{"card_expiry", "04/2027", false},
		{"card_expiry", "04/50", false}, // more than 20 years ahead
		{"card_expiry", "ab/cd", false},
		{"dob", "1984-07-31", true},
		{"dob", "07/31/1984", true},
		{"dob", "2026-03-15", true}, // born today
		{"dob", "2026-03-16", false},
		{"dob", "1890-01-01", false}, // older than 130
		{"dob", "1984-02-30", false},
		{"dob", "31/07/1984", false},
		{"dob", "yesterday", false},
	}
	for _, tt := range tests {
		t.Run(tt.tag+"/"+tt.value, func(t *testing.T) {
			err := v.Var(tt.value, tt.tag)
			if got := err == nil; got != tt.ok {
				t.Errorf("Var(%q, %q) = %v, want ok=%v", tt.value, tt.tag, err, tt.ok)
			}
		})
	}
}

// TestCardExpiryUsesInjectedClock checks card_expiry reads the clock on each
// call rather than at registration.
func TestCardExpiryUsesInjectedClock(t *testing.T) {
	now := fixedNow()
	v := newValidator(func() time.Time { return now })
	if err := v.Var("03/26", "card_expiry"); err != nil {
		t.Fatalf("03/26 in March 2026: %v", err)
	}
	now = now.AddDate(0, 1, 0)
	if err := v.Var("03/26", "card_expiry"); err == nil {
		t.Fatal("03/26 accepted in April 2026")
	}
}

func TestCompileTag(t *testing.T) {
	v := newValidator(fixedNow)
	tests := []struct {
		tag string
		ok  bool
	}{
		{"", true},
		{"required,card", true},
		{"required,numeric,min=3,max=4", true},
		{"omitempty,email", true},
		{"required,ssn|npi", true},
		{"required,card_expiry", true},
		{"dob", true},
		{"required,nosuchtag", false},
		{"required,len=abc", false},
		{"min=x", false},
		{"required,,card", false},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			err := compileTag(v, tt.tag)
			if (err == nil) != tt.ok {
				t.Errorf("compileTag(%q) = %v, want ok=%v", tt.tag, err, tt.ok)
			}
		})
	}
}

// TestCheckFieldNeverPanics checks a tag that only fails on some inputs
// (validator panics on a bad parameter when it reaches it) counts as
// invalid instead of crashing the handler.
func TestCheckFieldNeverPanics(t *testing.T) {
	v := newValidator(fixedNow)
	if got := checkField(v, "omitempty,len=abc", "x"); got == "" {
		t.Fatal("a panicking tag passed")
	}
	if got := checkField(v, "required,card", "4111111111111111"); got != "" {
		t.Fatalf("valid card failed %q", got)
	}
	if got := checkField(v, "required,card", ""); got != "required" {
		t.Fatalf("empty card failed %q, want required", got)
	}
}

// TestFieldMessagesHoldNoValue checks every message is built from the label
// and tag alone.
func TestFieldMessagesHoldNoValue(t *testing.T) {
	v := newValidator(fixedNow)
	const secret = "4111111111111112"
	for _, spec := range DefaultForms() {
		for _, f := range spec.Fields {
			tag := checkField(v, f.Validate, secret)
			if tag == "" {
				continue
			}
			msg := fieldMessage(f, tag)
			if msg == "" || strings.Contains(msg, secret) {
				t.Errorf("%s.%s: message %q", spec.Name, f.Name, msg)
			}
		}
	}
}
