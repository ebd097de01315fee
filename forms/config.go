package forms

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/veilproxy/veil/detectors"
)

// FormSpec is one secure form as written in the config file.
type FormSpec struct {
	Pos         detectors.Pos `yaml:"-"`
	Name        string        `yaml:"name"`
	Title       string        `yaml:"title"`
	Description string        `yaml:"description"`
	// Invitation is the chat text sent with the fill link. The link replaces
	// "{link}" where the text has it, and follows the text otherwise.
	Invitation string        `yaml:"invitation"`
	TTL        time.Duration `yaml:"ttl"`   // how long the fill link and the submission live; 0: the vault's retention
	Purge      string        `yaml:"purge"` // on_view (default) | on_schedule
	// RevealAgain lets an on_schedule form's submission be revealed more
	// than once until its ttl ends. Off, every submission is shown once.
	RevealAgain bool        `yaml:"reveal_again"`
	Fields      []FieldSpec `yaml:"fields"`
}

// FieldSpec is one field of a secure form.
type FieldSpec struct {
	// Pos locates the field in the config file when the loader records it;
	// errors fall back to the form's "fields" key otherwise.
	Pos   detectors.Pos `yaml:"-"`
	Name  string        `yaml:"name"`
	Label string        `yaml:"label"`
	Input string        `yaml:"input"` // text (default), password, number, date, email, tel
	Help  string        `yaml:"help"`
	// Autocomplete is the HTML autocomplete token ("cc-number", "bday"),
	// which lets browsers and assistive technology fill the field.
	Autocomplete string `yaml:"autocomplete"`
	Validate     string `yaml:"validate"` // validator/v10 tag, with Veil's own: ssn, npi, mbi, luhn, card, card_expiry, dob
	// Sensitive fields are never echoed back into the page; OneTime fields
	// (a CVV) are never kept past the one reveal.
	Sensitive *bool `yaml:"sensitive"`
	OneTime   bool  `yaml:"one_time"`
}

// IsSensitive reports whether the field's value must never be written back
// into a page. Fields are sensitive unless the config says otherwise.
func (f FieldSpec) IsSensitive() bool { return f.Sensitive == nil || *f.Sensitive }

// Purge modes of a form.
const (
	PurgeOnView     = "on_view"
	PurgeOnSchedule = "on_schedule"
)

// Limits on what a form may declare.
const (
	maxTTL    = 30 * 24 * time.Hour
	maxFields = 32
)

// formName and fieldName are compiled on first use: their counted
// repetitions make large programs, and only commands that read forms need
// them, not every start-up of the binary.
var (
	formName  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9_-]{0,39}$`) })
	fieldName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,39}$`) })
)

var inputTypes = map[string]bool{"": true, "text": true, "password": true, "number": true, "date": true, "email": true, "tel": true}

// oneTime reports whether a submission of the form holds a field that must
// never be kept past its one reveal.
func (s FormSpec) oneTime() bool {
	for _, f := range s.Fields {
		if f.OneTime {
			return true
		}
	}
	return false
}

// purgeOnView reports whether a submission is erased when it is revealed.
func (s FormSpec) purgeOnView() bool { return s.Purge != PurgeOnSchedule }

// ValidateSpecs reports every problem in the forms section at once, each
// naming the file and line, the form and the field. A validate tag is
// checked by compiling it with the same validator the fill page uses, so a
// tag that would fail at request time fails here instead.
func ValidateSpecs(specs []FormSpec) error {
	v := newValidator(time.Now)
	var errs []error
	seen := map[string]bool{}
	for i, s := range specs {
		label := fmt.Sprintf("form %q", s.Name)
		if s.Name == "" {
			label = fmt.Sprintf("form #%d", i+1)
		}
		bad := func(key, format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s%s: %s: %s", s.Pos.At(key), label, key, fmt.Sprintf(format, args...)))
		}
		switch {
		case s.Name == "":
			bad("name", "required")
		case !formName().MatchString(s.Name):
			bad("name", "%q must be lower-case letters, digits, _ or - (at most 40, starting with a letter)", s.Name)
		case seen[s.Name]:
			bad("name", "duplicate form name %q", s.Name)
		}
		seen[s.Name] = true
		if s.TTL < 0 || s.TTL > maxTTL {
			bad("ttl", "%s is out of range (0 for the vault's retention, at most %s)", s.TTL, maxTTL)
		} else if s.TTL > 0 && s.TTL < time.Minute {
			bad("ttl", "%s is too short for a visitor to fill the form (at least 1m)", s.TTL)
		}
		switch s.Purge {
		case "", PurgeOnView, PurgeOnSchedule:
		default:
			bad("purge", "%q is not on_view or on_schedule", s.Purge)
		}
		if s.RevealAgain && s.Purge != PurgeOnSchedule {
			bad("reveal_again", "needs purge: on_schedule (an on_view submission is erased when revealed)")
		}
		if s.RevealAgain && s.oneTime() {
			bad("reveal_again", "a form with one_time fields is never kept past one reveal")
		}
		if len(s.Fields) == 0 {
			bad("fields", "a form needs at least one field")
		}
		if len(s.Fields) > maxFields {
			bad("fields", "%d fields, at most %d", len(s.Fields), maxFields)
		}
		fields := map[string]bool{}
		for j, f := range s.Fields {
			flabel := fmt.Sprintf("field %q", f.Name)
			if f.Name == "" {
				flabel = fmt.Sprintf("field #%d", j+1)
			}
			pos := f.Pos.At("")
			fbad := func(key, format string, args ...any) {
				p := pos
				if p == "" {
					p = s.Pos.At("fields")
				} else if l, ok := f.Pos.Keys[key]; ok {
					p = detectors.Pos{File: f.Pos.File, Line: l}.At("")
				}
				errs = append(errs, fmt.Errorf("%s%s: %s: %s: %s", p, label, flabel, key, fmt.Sprintf(format, args...)))
			}
			switch {
			case f.Name == "":
				fbad("name", "required")
			case !fieldName().MatchString(f.Name):
				fbad("name", "%q must be letters, digits or _ (at most 40, starting with a letter)", f.Name)
			case fields[f.Name]:
				fbad("name", "duplicate field name %q", f.Name)
			}
			fields[f.Name] = true
			if strings.TrimSpace(f.Label) == "" {
				fbad("label", "required")
			}
			if !inputTypes[f.Input] {
				fbad("input", "%q is not text, password, number, date, email or tel", f.Input)
			}
			if err := compileTag(v, f.Validate); err != nil {
				fbad("validate", "%v", err)
			}
		}
	}
	return errors.Join(errs...)
}

// DefaultForms returns the forms Veil offers when the config declares none:
// "payment" (card number, expiry, and a security code that is never kept
// past its one reveal), "insurance" (member ID and plan name) and
// "identity" (date of birth and Social Security number).
func DefaultForms() []FormSpec {
	return []FormSpec{
		{
			Name:        "payment",
			Title:       "Payment card",
			Description: "Your card details go straight to an encrypted vault. The support agent can read them once; they are then erased.",
			Invitation:  "Please don't type card details in the chat. Use this secure form instead: {link}",
			TTL:         time.Hour,
			Purge:       PurgeOnView,
			Fields: []FieldSpec{
				{Name: "card_number", Label: "Card number", Autocomplete: "cc-number", Help: "The 12 to 19 digits on the front of your card. Spaces are fine.", Validate: "required,max=30,card"},
				{Name: "expiry", Label: "Expiry date", Autocomplete: "cc-exp", Help: "Month and year as MM/YY, for example 04/29.", Validate: "required,card_expiry"},
				{Name: "cvv", Label: "Security code", Input: "password", Autocomplete: "cc-csc", Help: "The 3 or 4 digits on the back of your card (on the front for American Express).", Validate: "required,numeric,min=3,max=4", OneTime: true},
			},
		},
		{
			Name:        "insurance",
			Title:       "Insurance details",
			Description: "Your member ID goes straight to an encrypted vault. The support agent can read it once; it is then erased.",
			Invitation:  "Please share your insurance details through this secure form rather than the chat: {link}",
			TTL:         24 * time.Hour,
			Purge:       PurgeOnView,
			Fields: []FieldSpec{
				{Name: "member_id", Label: "Member ID", Help: "As printed on your insurance card.", Validate: "required,min=4,max=30,printascii"},
				{Name: "plan_name", Label: "Plan name", Help: "The name of your health plan, for example Blue Choice PPO.", Validate: "required,max=100"},
			},
		},
		{
			Name:        "identity",
			Title:       "Verify your identity",
			Description: "Your details go straight to an encrypted vault. The support agent can read them once; they are then erased.",
			Invitation:  "To verify your identity, please use this secure form rather than the chat: {link}",
			TTL:         time.Hour,
			Purge:       PurgeOnView,
			Fields: []FieldSpec{
				{Name: "dob", Label: "Date of birth", Input: "date", Autocomplete: "bday", Help: "As YYYY-MM-DD, for example 1984-07-31.", Validate: "required,dob"},
				{Name: "ssn", Label: "Social Security number", Help: "9 digits, with or without dashes.", Validate: "required,ssn"},
			},
		},
	}
}
