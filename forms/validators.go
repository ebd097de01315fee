package forms

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-playground/validator/v10"

	"github.com/veilproxy/veil/detectors"
)

// Veil's own validation tags, next to validator's built-in ones.
//
//	ssn          a Social Security number the SSA could have issued
//	npi          a National Provider Identifier with a valid check digit
//	mbi          a Medicare Beneficiary Identifier in the CMS format
//	luhn         digits whose Luhn checksum is right
//	card         a payment card number: known brand, length and Luhn
//	card_expiry  MM/YY, this month or later (at most 20 years ahead)
//	dob          a past date (YYYY-MM-DD or MM/DD/YYYY), at most 130 years ago
//
// Spaces and dashes are removed before the identifier checks, and letters
// are upper-cased, as the detectors expect.
var veilTags = []string{"ssn", "npi", "mbi", "luhn", "card", "card_expiry", "dob"}

// newValidator returns a validator with Veil's tags registered; now is the
// clock card_expiry and dob compare against.
func newValidator(now func() time.Time) *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	ids := map[string]func([]byte) bool{
		"ssn":  detectors.ValidSSN,
		"npi":  detectors.ValidNPI,
		"mbi":  detectors.ValidMBI,
		"luhn": detectors.Luhn,
		"card": detectors.ValidCard,
	}
	for tag, check := range ids {
		must(v.RegisterValidation(tag, func(fl validator.FieldLevel) bool {
			return check(normalizeID(fl.Field().String()))
		}))
	}
	must(v.RegisterValidation("card_expiry", func(fl validator.FieldLevel) bool {
		return validExpiry(fl.Field().String(), now())
	}))
	must(v.RegisterValidation("dob", func(fl validator.FieldLevel) bool {
		return validDOB(fl.Field().String(), now())
	}))
	return v
}

// must panics on a registration error, which only a bug in this file can
// cause: the tags and functions are fixed.
func must(err error) {
	if err != nil {
		panic(err)
	}
}

// normalizeID removes spaces and dashes and upper-cases ASCII letters.
func normalizeID(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-' || c == '\t':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		}
		out = append(out, c)
	}
	return out
}

// expiryPattern is compiled on first use, by a form that checks an expiry,
// rather than at the start of every command.
var expiryPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(\d{2})\s*/\s*(\d{2})$`) })

// validExpiry reports whether s is a card expiry MM/YY that has not passed
// at now (a card is valid through the last day of its month) and is at most
// 20 years ahead.
func validExpiry(s string, now time.Time) bool {
	m := expiryPattern().FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return false
	}
	month, _ := strconv.Atoi(m[1])
	yy, _ := strconv.Atoi(m[2])
	if month < 1 || month > 12 {
		return false
	}
	year := 2000 + yy
	cur := now.Year()*12 + int(now.Month()) - 1
	exp := year*12 + month - 1
	return exp >= cur && exp <= cur+20*12
}

// validDOB reports whether s is a date of birth: a real calendar date
// written YYYY-MM-DD or MM/DD/YYYY, not after today and at most 130 years
// before it.
func validDOB(s string, now time.Time) bool {
	s = strings.TrimSpace(s)
	var d time.Time
	var err error
	for _, layout := range []string{"2006-01-02", "01/02/2006"} {
		if d, err = time.Parse(layout, s); err == nil {
			break
		}
	}
	if err != nil {
		return false
	}
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	return !d.After(today) && !d.Before(today.AddDate(-130, 0, 0))
}

// undefinedTag reads validator's panic on an unknown tag; compiled on
// first use, when a config names one.
var undefinedTag = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`Undefined validation function '([^']*)'`) })

// compileTag checks a validate tag the way the fill page will use it.
// validator parses a tag on first use and panics on an unknown tag or a
// malformed parameter (there is no parse function that returns an error),
// so the tag is run against a few sample strings with the panic recovered.
// The samples are fixed, so no submitted value can reach the message.
func compileTag(v *validator.Validate, tag string) (err error) {
	if tag == "" {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprint(r)
			if m := undefinedTag().FindStringSubmatch(msg); m != nil {
				err = fmt.Errorf("unknown tag %q (validator's own tags, or %s)", m[1], strings.Join(veilTags, ", "))
				return
			}
			err = fmt.Errorf("invalid tag %q: %s", tag, msg)
		}
	}()
	for _, sample := range []string{"", "0", "x", "4111111111111111", "12/30", "2000-01-01"} {
		var inv *validator.InvalidValidationError
		if e := v.Var(sample, tag); errors.As(e, &inv) {
			return fmt.Errorf("invalid tag %q: %w", tag, e)
		}
	}
	return nil
}

// checkField runs a field's tag on a submitted value and returns the tag
// that failed, or "" when the value is valid. A panic inside validator
// (a tag that only fails on some inputs) counts as invalid: fail closed.
func checkField(v *validator.Validate, tag, value string) (failed string) {
	if tag == "" {
		return ""
	}
	defer func() {
		if r := recover(); r != nil {
			failed = "invalid"
		}
	}()
	err := v.Var(value, tag)
	if err == nil {
		return ""
	}
	var ves validator.ValidationErrors
	if errors.As(err, &ves) && len(ves) > 0 {
		return ves[0].Tag()
	}
	return "invalid"
}

// fieldMessage returns the message shown for a failed tag. It is built
// from the tag and the field's label only, never from the submitted value.
func fieldMessage(f FieldSpec, tag string) string {
	label := f.Label
	switch tag {
	case "required":
		return "Enter your " + lowerFirst(label) + "."
	case "card", "credit_card", "luhn":
		return "Enter a valid card number. Check the digits on your card."
	case "card_expiry":
		return "Enter the expiry date as MM/YY, for example 04/29. The card must not have expired."
	case "ssn":
		return "Enter a valid 9-digit Social Security number."
	case "npi":
		return "Enter a valid 10-digit National Provider Identifier."
	case "mbi":
		return "Enter a valid 11-character Medicare Beneficiary Identifier."
	case "dob":
		return "Enter a real date of birth as YYYY-MM-DD, for example 1984-07-31."
	case "numeric", "number":
		return label + " must contain digits only."
	case "len", "min", "max", "gt", "gte", "lt", "lte":
		return label + " is too short or too long."
	case "email":
		return "Enter an email address like name@example.com."
	case "toolong":
		return label + " is too long."
	}
	return label + " is not valid."
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	if len(r) > 1 && r[1] >= 'A' && r[1] <= 'Z' {
		return s // an acronym such as "SSN"
	}
	return strings.ToLower(string(r[:1])) + string(r[1:])
}
