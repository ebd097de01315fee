package detectors

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// findTypes returns the types found in text, in order.
func findTypes(t *testing.T, e *Engine, text string, opts RedactOptions) []string {
	t.Helper()
	fs, err := e.Find(context.Background(), []byte(text), opts)
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	var types []string
	for _, f := range fs {
		types = append(types, f.Type)
	}
	return types
}

func TestDefaultRuleSamples(t *testing.T) {
	fails, err := TestRules(Config{})
	if err != nil {
		t.Fatalf("TestRules: %v", err)
	}
	for _, f := range fails {
		t.Errorf("rule %s: want %s: %q", f.Rule, f.Want, f.Sample)
	}
	e := mustCompile(t, Config{})
	types := map[string]bool{}
	for _, r := range e.all {
		types[r.Type] = true
		if len(r.spec.Tests.Match) == 0 || len(r.spec.Tests.NoMatch) == 0 {
			t.Errorf("rule %s: needs match and no_match samples", r.ID)
		}
		if r.Description == "" {
			t.Errorf("rule %s: no description", r.ID)
		}
	}
	for _, typ := range strings.Fields("card card_track cvv card_expiry ssn itin npi dea mbi mrn health_plan_id icd10 ndc dob phone email iban aba_routing bank_account ip passport drivers_license vin zip address name url") {
		if !types[typ] {
			t.Errorf("no default rule of type %s", typ)
		}
	}
}

func TestCanonicalTypes(t *testing.T) {
	e := mustCompile(t, Config{})
	tests := []struct {
		name, text, typ, value string
	}{
		{"card visa", "my card is 4111 1111 1111 1111 ok", "card", "4111 1111 1111 1111"},
		{"card amex", "amex 378282246310005.", "card", "378282246310005"},
		{"card mastercard 2-series", "use 2223003122003222 please", "card", "2223003122003222"},
		{"card track", "swipe %B4111111111111111^DOE/JOHN^2512101000000000000? done", "card_track", "%B4111111111111111^DOE/JOHN^2512101000000000000?"},
		{"cvv", "the cvv is 737", "cvv", "737"},
		{"expiry", "expiry 09/28 thanks", "card_expiry", "09/28"},
		{"expiry without separator", "card exp 0928 thanks", "card_expiry", "0928"},
		{"ssn", "ssn 536-22-8741", "ssn", "536-22-8741"},
		{"itin", "ITIN 912-70-1234", "itin", "912-70-1234"},
		{"dea with a space", "my dea is ab 1234563 ok", "dea", "ab 1234563"},
		{"mrn with letters", "MRN: MR-00123456 thanks", "mrn", "MR-00123456"},
		{"ssn last four", "the last 4 of my SSN are 8741.", "ssn", "8741"},
		{"npi", "Dr. Lee NPI 1234567893", "npi", "1234567893"},
		{"dea", "DEA number AB1234563", "dea", "AB1234563"},
		{"mbi", "medicare 1EG4-TE5-MK73", "mbi", "1EG4-TE5-MK73"},
		{"mrn", "MRN: 00123456", "mrn", "00123456"},
		{"health plan", "member id XYZ123456789", "health_plan_id", "XYZ123456789"},
		{"health plan with a prefix", "policy #: ABC-1234567", "health_plan_id", "ABC-1234567"},
		{"health plan in groups", "my insurance number is 8455 2231 7788.", "health_plan_id", "8455 2231 7788"},
		{"icd10", "diagnosis code F32.1 noted", "icd10", "F32.1"},
		{"ndc", "NDC 0777-3105-02", "ndc", "0777-3105-02"},
		{"dob", "DOB: 03/14/1985", "dob", "03/14/1985"},
		{"phone", "call me at (212) 555-0143", "phone", "(212) 555-0143"},
		{"phone, any exchange after a phone word", "call 555-123-4567 after 5", "phone", "555-123-4567"},
		{"email", "write to jane.doe@example.com now", "email", "jane.doe@example.com"},
		{"iban", "IBAN GB82 WEST 1234 5698 7654 32", "iban", "GB82 WEST 1234 5698 7654 32"},
		{"aba", "routing number 021000021", "aba_routing", "021000021"},
		{"bank account", "account number 000123456789", "bank_account", "000123456789"},
		{"bank account in dashed groups", "bank account 12-3456-0123456-00 thanks", "bank_account", "12-3456-0123456-00"},
		{"ip", "from 192.168.1.20 today", "ip", "192.168.1.20"},
		{"passport", "passport number 123456789", "passport", "123456789"},
		{"drivers license", "driver's license D1234567", "drivers_license", "D1234567"},
		{"drivers license, short word", "my DL is D1234567", "drivers_license", "D1234567"},
		{"vin", "VIN 1M8GDM9AXKP042788", "vin", "1M8GDM9AXKP042788"},
		{"zip", "zip code 94105", "zip", "94105"},
		{"address", "my address is 123 Main Street", "address", "123 Main Street"},
		{"name", "my name is John Smith", "name", "John Smith"},
		{"name, last first", "Patient: O'Brien, Sean", "name", "O'Brien, Sean"},
		{"name in capitals", "name on card: JOHN Q PUBLIC", "name", "JOHN Q PUBLIC"},
		{"name with inner capital", "my name is Sean McDonald", "name", "Sean McDonald"},
		{"name with a title", "my name is Dr. Jane Smith", "name", "Dr. Jane Smith"},
		{"name with accents", "my name is María José García", "name", "María José García"},
		{"name with a curly apostrophe", "patient: Seán O’Brien", "name", "Seán O’Brien"},
		{"name after I'm", "Hi, I'm Jane Doe and I need help", "name", "Jane Doe"},
		{"address with direction", "address: 1600 Pennsylvania Ave NW, Washington", "address", "1600 Pennsylvania Ave NW"},
		{"url", "see https://example.com/x?y=1 now", "url", "https://example.com/x?y=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := []byte(tt.text)
			fs, err := e.Find(context.Background(), text, RedactOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				if f.Start < 0 || f.End > len(text) || f.Start >= f.End {
					t.Fatalf("finding %+v out of range", f)
				}
				got = append(got, f.Type+"="+string(text[f.Start:f.End]))
			}
			want := tt.typ + "=" + tt.value
			found := false
			for _, g := range got {
				found = found || g == want
			}
			if !found {
				t.Fatalf("findings %q, want %q", got, want)
			}
			out, _, err := e.Redact(context.Background(), text, RedactOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if tt.typ != "url" && tt.typ != "ip" && bytes.Contains(out, []byte(tt.value)) {
				t.Fatalf("masked output %q still holds the value", out)
			}
		})
	}
}

func TestEvasions(t *testing.T) {
	e := mustCompile(t, Config{})
	tests := []struct {
		name, text, typ string
	}{
		{"spaces", "4111 1111 1111 1111", "card"},
		{"dashes", "4111-1111-1111-1111", "card"},
		{"dots", "4111.1111.1111.1111", "card"},
		{"slashes", "4111/1111/1111/1111", "card"},
		{"no separator", "4111111111111111", "card"},
		{"line breaks", "4111\n1111\r\n1111\n1111", "card"},
		{"single digits spaced", "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "card"},
		{"mixed separators", "4111 - 1111 . 1111 / 1111", "card"},
		{"full-width digits", "４１１１ １１１１ １１１１ １１１１", "card"},
		{"arabic-indic digits", "٤١١١١١١١١١١١١١١١", "card"},
		{"devanagari digits", "४१११ ११११ ११११ ११११", "card"},
		{"zero-width spaces", "4111\u200b1111\u200b1111\u200b1111", "card"},
		{"zero-width joiners", "4\u200d111 1111 1111 11\u200c11", "card"},
		{"soft hyphens", "4111\u00ad1111\u00ad1111\u00ad1111", "card"},
		{"no-break spaces", "4111\u00a01111\u00a01111\u00a01111", "card"},
		{"en dashes", "4111–1111–1111–1111", "card"},
		{"glued to letters", "abc4111111111111111xyz", "card"},
		{"glued to label", "card:4111111111111111", "card"},
		{"hash", "#4111111111111111", "card"},
		{"in parentheses", "(4111111111111111)", "card"},
		{"ssn zero width", "536\u200b-22-\u200b8741", "ssn"},
		{"ssn full width", "５３６－２２－８７４１", "ssn"},
		{"ssn glued", "ssn#536-22-8741.", "ssn"},
		{"ssn line breaks", "536\n22\n8741", "ssn"},
		{"ssn spaced dashes", "536 - 22 - 8741", "ssn"},
		{"mbi lower case", "mbi 1eg4-te5-mk73", "mbi"},
		{"email in brackets", "<jane@example.com>", "email"},
		{"date of birth glued to a letter", "dob is3/14/85", "dob"},
		{"date of birth after a letter its guard takes", "DOB:D03/14/1985", "dob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			types := findTypes(t, e, tt.text, RedactOptions{})
			if len(types) != 1 || types[0] != tt.typ {
				t.Fatalf("types %q, want [%s]", types, tt.typ)
			}
			out, fs, err := e.Redact(context.Background(), []byte(tt.text), RedactOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != 1 {
				t.Fatalf("findings %v", fs)
			}
			// No four digits of the value survive in a row beyond what
			// last4 shows.
			if strings.Count(string(out), "1111") > 1 || bytes.Contains(out, []byte("4111")) {
				t.Fatalf("masked %q", out)
			}
		})
	}
}

func TestNegatives(t *testing.T) {
	e := mustCompile(t, Config{})
	for _, text := range []string{
		"Hello, how are you today?",
		"order #48213 shipped on 2024-03-02 at 10:30:45",
		"the total is $1,249.99 including tax",
		"version 4.2.1 build 20240302",
		"tracking 1Z999AA10123456784",
		"uuid 123e4567-e89b-12d3-a456-426614174000",
		"card 4111 1111 1111 1112 fails Luhn",
		"timestamp 1699999999 and 1699999999123",
		"call 555-0100 please",
		"I decided 100 times",
		"room 123, floor 4",
	} {
		t.Run(text, func(t *testing.T) {
			if types := findTypes(t, e, text, RedactOptions{}); len(types) > 0 {
				t.Fatalf("found %q", types)
			}
		})
	}
}

// recordingDiverter returns a link per value and remembers what it saw.
type recordingDiverter struct {
	values [][]byte
	err    error
}

func (d *recordingDiverter) Divert(_ context.Context, f Finding, value []byte) (string, error) {
	if d.err != nil {
		return "", d.err
	}
	d.values = append(d.values, value)
	return "<link:" + f.Type + ">", nil
}

func TestActionsAndDivert(t *testing.T) {
	e := mustCompile(t, Config{Actions: map[string]string{"card": "divert", "ssn": "block", "email": "report"}})
	text := []byte("card 4111 1111 1111 1111, ssn 536-22-8741, mail jane@example.com")
	t.Run("divert", func(t *testing.T) {
		d := &recordingDiverter{}
		out, fs, err := e.Redact(context.Background(), text, RedactOptions{Diverter: d})
		if err != nil {
			t.Fatal(err)
		}
		want := "card <link:card>, ssn [SSN], mail jane@example.com"
		if string(out) != want {
			t.Fatalf("got %q, want %q", out, want)
		}
		if len(d.values) != 1 || string(d.values[0]) != "4111 1111 1111 1111" {
			t.Fatalf("diverted %q", d.values)
		}
		if Strongest(fs) != ActionBlock {
			t.Fatalf("strongest %v", Strongest(fs))
		}
		acts := map[string]Action{}
		for _, f := range fs {
			acts[f.Type] = f.Action
		}
		if acts["card"] != ActionDivert || acts["ssn"] != ActionBlock || acts["email"] != ActionReport {
			t.Fatalf("actions %v", acts)
		}
	})
	t.Run("nil diverter masks", func(t *testing.T) {
		out, _, err := e.Redact(context.Background(), text, RedactOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(out), "card **** **** **** 1111,") {
			t.Fatalf("got %q", out)
		}
	})
	t.Run("diverter error fails closed", func(t *testing.T) {
		sentinel := errors.New("vault down")
		out, _, err := e.Redact(context.Background(), text, RedactOptions{Diverter: &recordingDiverter{err: sentinel}})
		if !errors.Is(err, sentinel) || out != nil {
			t.Fatalf("err %v out %q", err, out)
		}
		if strings.Contains(err.Error(), "4111") {
			t.Fatalf("error holds the value: %v", err)
		}
	})
}

func TestOverlapStrongestWins(t *testing.T) {
	cfg := Config{
		Defaults: new(bool),
		Rules: []RuleSpec{
			{ID: "digits16", Type: "long", Pattern: `\d{16}`, Action: "report"},
			{ID: "visa", Type: "card", Pattern: `4\d{15}`, Action: "block", Mask: "type_tag"},
			{ID: "tail", Type: "tail", Pattern: `\d{4}x`, Action: "mask"},
		},
	}
	e := mustCompile(t, cfg)
	out, fs, err := e.Redact(context.Background(), []byte("n 4111111111111111x end"), RedactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Type != "card" || fs[0].Action != ActionBlock || fs[0].Start != 2 || fs[0].End != 19 {
		t.Fatalf("findings %+v", fs)
	}
	if string(out) != "n [CARD] end" {
		t.Fatalf("out %q", out)
	}
}

// TestValueAtIslandEndKeepsItsMask checks that a value read with its
// context word and ending where its island ends keeps its mask style when
// plain words follow, rather than being masked in full as a value that
// might go on.
func TestValueAtIslandEndKeepsItsMask(t *testing.T) {
	e := mustCompile(t, Config{})
	for _, text := range []string{"my account number is 000123456789 thanks", "acct 000123456789\nok"} {
		out, fs, err := e.Redact(context.Background(), []byte(text), RedactOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) != 1 || fs[0].Type != "bank_account" || !strings.Contains(string(out), "********6789") {
			t.Errorf("Redact(%q) = %q, %+v: want the account masked last4", text, out, fs)
		}
	}
}

// TestMergedFindingsShowNothingOfEither checks that findings of
// different extents merged into one are masked in full, so that no style
// shows part of another rule's value.
func TestMergedFindingsShowNothingOfEither(t *testing.T) {
	e := mustCompile(t, Config{})
	text := "https://pay.example.com/?card=4111111111111111&ssn=536228741"
	out, fs, err := e.Redact(context.Background(), []byte(text), RedactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 {
		t.Fatalf("findings %+v: want one merged finding", fs)
	}
	for _, part := range []string{"8741", "1111", "4111", "5362"} {
		if strings.Contains(string(out), part) {
			t.Errorf("masked %q shows %q", out, part)
		}
	}
}

// TestNearerContextNamesTheValue checks that when two rules read the same
// value, each through its own context word, the nearer word decides the
// type, whichever rule comes first.
func TestNearerContextNamesTheValue(t *testing.T) {
	e := mustCompile(t, Config{})
	for _, tt := range []struct{ text, want string }{
		{"passport number 533380006\ndriver's license D1234567", "passport number [PASSPORT]\ndriver's license [DRIVERS_LICENSE]"},
		{"driver's license D1234567\npassport number 533380006", "driver's license [DRIVERS_LICENSE]\npassport number [PASSPORT]"},
		// mrn is the more confident rule; the nearer word still wins.
		{"mrn 1234567\nmember #: 123456789", "mrn [MRN]\nmember #: [HEALTH_PLAN_ID]"},
	} {
		out, _, err := e.Redact(context.Background(), []byte(tt.text), RedactOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.text, out, tt.want)
		}
	}
}

func TestStrict(t *testing.T) {
	e := mustCompile(t, Config{})
	text := "typing 123456 and 12-34-56 but not 12345"
	out, fs, err := e.Redact(context.Background(), []byte(text), RedactOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "typing ****** and **-**-** but not 12345" {
		t.Fatalf("out %q", out)
	}
	for _, f := range fs {
		if f.Type != "digits" || f.Rule != "strict" {
			t.Fatalf("finding %+v", f)
		}
	}
	if types := findTypes(t, e, text, RedactOptions{}); len(types) != 0 {
		t.Fatalf("without strict: %q", types)
	}
}

func TestPreceding(t *testing.T) {
	e := mustCompile(t, Config{})
	pre := []byte("my card is 4111 1111")
	text := []byte(" 1111 1111 thanks")
	out, fs, err := e.Redact(context.Background(), text, RedactOptions{Preceding: pre})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Start != 0 || fs[0].End != 10 || fs[0].Type != "card" {
		t.Fatalf("findings %+v", fs)
	}
	if string(out) != " **** **** thanks" {
		t.Fatalf("out %q", out)
	}
	// Context words before the text count too.
	out, _, err = e.Redact(context.Background(), []byte("536228741"), RedactOptions{Preceding: []byte("my SSN is ")})
	if err != nil || string(out) != "[SSN]" {
		t.Fatalf("out %q err %v", out, err)
	}
	// A stream with Preceding gives the same.
	got, gotF := streamAll(t, e, text, []int{3, 7}, RedactOptions{Preceding: pre})
	if !bytes.Equal(got, []byte(" **** **** thanks")) || len(gotF) != 1 || gotF[0] != fs[0] {
		t.Fatalf("stream %q %+v", got, gotF)
	}
}

func TestRulesList(t *testing.T) {
	e := mustCompile(t, Config{
		Disable: []string{"ip6"},
		Actions: map[string]string{"card": "divert"},
		Rules: []RuleSpec{
			{Pos: Pos{File: "veil.yaml", Line: 3}, ID: "acme_mrn", Type: "mrn", Pattern: `MRN(?<v>\d{7})`, Keywords: []string{"mrn"}},
			{Pos: Pos{File: "veil.yaml", Line: 9}, ID: "email", Type: "email", Pattern: `\S+@\S+`, Keywords: []string{"@"}},
		},
	})
	byID := map[string]RuleInfo{}
	for _, r := range e.Rules() {
		byID[r.ID] = r
	}
	if _, ok := byID["ip6"]; ok {
		t.Error("disabled rule listed")
	}
	if r := byID["card_pan"]; r.Action != "divert" || r.Source != "default" || r.Type != "card" {
		t.Errorf("card_pan %+v", r)
	}
	if r := byID["acme_mrn"]; r.Source != "veil.yaml" || r.Action != "mask" {
		t.Errorf("acme_mrn %+v", r)
	}
	if r := byID["email"]; r.Source != "veil.yaml" {
		t.Errorf("override of email %+v", r)
	}
	if !bytes.Contains(DefaultRulesYAML(), []byte("id: card_pan")) {
		t.Error("DefaultRulesYAML lacks card_pan")
	}
}

func TestConcurrentUse(t *testing.T) {
	e := mustCompile(t, Config{Rules: []RuleSpec{{ID: "pin", Type: "pin", Pattern: `pin (?<v>\d{4})`, Keywords: []string{"pin"}}}})
	text := chatText(8 << 10)
	want, wantF, err := e.Redact(context.Background(), text, RedactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 4)
	for range 4 {
		go func() {
			for range 5 {
				got, gotF, err := e.Redact(context.Background(), text, RedactOptions{})
				if err == nil && (!bytes.Equal(got, want) || len(gotF) != len(wantF)) {
					err = errors.New("different result")
				}
				if err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range 4 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

func TestDefaultsDecodeStrictly(t *testing.T) {
	var doc struct {
		Rules []RuleSpec `yaml:"rules"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(DefaultRulesYAML()))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("strict decoding of defaults.yaml: %v", err)
	}
	specs := defaultSpecs()
	if len(specs) != len(doc.Rules) || len(specs) == 0 {
		t.Fatalf("defaultSpecs: %d rules, strict decoding: %d", len(specs), len(doc.Rules))
	}
	for i, s := range specs {
		if s.ID != doc.Rules[i].ID || s.Pattern != doc.Rules[i].Pattern || s.Pos.Line == 0 {
			t.Errorf("rule #%d: %q at line %d, strict decoding: %q", i+1, s.ID, s.Pos.Line, doc.Rules[i].ID)
		}
	}
}

// TestPooledScannerForgetsText checks that a scanner handed back to the
// pool keeps no copy of the text it scanned: the next scan may be another
// visitor's.
func TestPooledScannerForgetsText(t *testing.T) {
	e := mustCompile(t, Config{})
	const card = "4111111111111111"
	s := e.getScanner(RedactOptions{Preceding: []byte("card: ")})
	s.findOnly = true
	s.skip = len("card: ")
	s.joined = append(s.joined[:0], "card: "+card...)
	s.buf = s.joined
	s.feed(s.joined)
	s.finish()
	if _, fs, err := s.step(context.Background(), nil, nil); err != nil || len(fs) != 1 {
		t.Fatalf("findings %v, error %v: want the card", fs, err)
	}
	kept := [][]byte{s.norm[:cap(s.norm)], s.joined[:cap(s.joined)]}
	if !bytes.Contains(kept[0], []byte(card)) {
		t.Fatalf("the validator form of the card is not in the scratch buffer: the test no longer covers it")
	}
	e.putScanner(s)
	for _, b := range kept {
		if bytes.Contains(b, []byte("1111")) {
			t.Errorf("a pooled scanner buffer still holds scanned digits (%d bytes)", len(b))
		}
	}
}

// TestCardTail checks that an expiry and a security code pasted right
// after a card number, with no word for either, are found and masked, and
// that numbers that are not them are left alone.
func TestCardTail(t *testing.T) {
	e := mustCompile(t, Config{})
	tests := []struct {
		text   string
		types  []string
		hidden []string // must not be in the masked text
	}{
		{"Here you go: 4111 1111 1111 1111 / 12/27 / 123", []string{"card", "card_expiry", "cvv"}, []string{"12/27", "123"}},
		{"4111111111111111 666 11/2026 thanks", []string{"card", "cvv", "card_expiry"}, []string{"666", "11/2026"}},
		// "321 11/2026" also spells a valid SSN: after a card it is a code
		// and an expiry.
		{"card 4111 1111 1111 1111 321 11/2026", []string{"card", "cvv", "card_expiry"}, []string{"321", "11/2026"}},
		{"4111 1111 1111 1111 and my ssn is 536-22-8741", []string{"card", "ssn"}, []string{"536-22-8741"}},
		{"4111 1111 1111 1111\n12/27\n123", []string{"card", "card_expiry", "cvv"}, []string{"12/27", "123"}},
		{"amex 378282246310005 1234 11/26", []string{"card", "cvv", "card_expiry"}, []string{"1234", "11/26"}},
		{"4111 1111 1111 1111 and 123 more", []string{"card"}, nil},
		{"4111111111111111|12|27|123", []string{"card", "card_expiry", "cvv"}, []string{"12|27", "|123"}},
		{"4111111111111111 1227 123", []string{"card", "card_expiry", "cvv"}, []string{"1227", " 123"}},
		{"4111 1111 1111 1111 12 / 27 123", []string{"card", "card_expiry", "cvv"}, []string{"12 / 27", " 123"}},
		{"4111 1111 1111 1111 2024", []string{"card"}, nil},
		{"4111 1111 1111 1111 13/27", []string{"card"}, nil},
		{"4111 1111 1111 1111 12/27/2025", []string{"card"}, nil},
		{"4111 1111 1111 1111 123.50", []string{"card"}, nil},
	}
	// A tail that only reports leaves the SSN its digits spell to be
	// masked as one.
	reporting := mustCompile(t, Config{Actions: map[string]string{"cvv": "report", "card_expiry": "report"}})
	text := "card 4111 1111 1111 1111 321 11/2026"
	out, fs, err := reporting.Redact(context.Background(), []byte(text), RedactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "321") || !slices.ContainsFunc(fs, func(f Finding) bool { return f.Type == "ssn" }) {
		t.Errorf("tail that reports: %q, findings %+v", out, fs)
	}
	for _, tt := range tests {
		types := findTypes(t, e, tt.text, RedactOptions{})
		if !slices.Equal(types, tt.types) {
			t.Errorf("%q: types %q, want %q", tt.text, types, tt.types)
			continue
		}
		out, _, err := e.Redact(context.Background(), []byte(tt.text), RedactOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range tt.hidden {
			if bytes.Contains(out, []byte(h)) {
				t.Errorf("%q: masked %q still holds %q", tt.text, out, h)
			}
		}
	}
	// A disabled rule stays disabled after a card too.
	e = mustCompile(t, Config{Disable: []string{"cvv"}})
	if types := findTypes(t, e, "4111 1111 1111 1111 12/27 123", RedactOptions{}); !slices.Equal(types, []string{"card", "card_expiry"}) {
		t.Errorf("cvv disabled: types %q", types)
	}
}

// TestSpanningDefaults pins which default rules read past their keywords
// into plain words. A rule joins them when its pattern can match a space
// and letters; each one makes every segment near its keywords longer to
// scan (month names in the expiry pattern cost a tenth of the scan time
// on chat), so a new one should be a decision, not a side effect.
func TestSpanningDefaults(t *testing.T) {
	e := mustCompile(t, Config{})
	var got []string
	for _, r := range e.all {
		if r.spans {
			got = append(got, r.ID)
		}
	}
	// health_plan_id reads member numbers written in spaced groups of
	// digits, dea_spaced registrant letters that may be lower case (an
	// inert word); their words are rare in ordinary talk.
	want := []string{"dea_spaced", "mbi", "health_plan_id", "dob", "phone", "phone_bare", "iban", "address", "name", "name_intro", "url"}
	if !slices.Equal(got, want) {
		t.Fatalf("rules that read past their keywords: %q, want %q", got, want)
	}
}

// TestContextStaysOnItsLine checks that a context word reads values on its
// own line, or on the next when it ends its line, but not the numbers of
// the next message.
func TestContextStaysOnItsLine(t *testing.T) {
	e := mustCompile(t, Config{})
	tests := []struct {
		text  string
		types []string
	}{
		{"My name is on the account already.\nOrder 060-1234567-1234567 was refunded", nil},
		{"That code expires soon.\n12/27 is when we meet", nil},
		{"account number:\n123456789012", []string{"bank_account"}},
		{"CVV\n123", []string{"cvv"}},
		{"What is your member ID?\nW123456789", []string{"health_plan_id"}},
		{"Agent: and the routing number?\nMaria: 021000021", []string{"aba_routing"}},
		{"The routing number is printed on checks, see the FAQ.\nOrder 021000021 shipped", nil},
		{"my account number is 123456789012", []string{"bank_account"}},
	}
	for _, tt := range tests {
		if types := findTypes(t, e, tt.text, RedactOptions{}); !slices.Equal(types, tt.types) {
			t.Errorf("%q: types %q, want %q", tt.text, types, tt.types)
		}
	}
}

// TestCardTailAcrossMessages follows a conversation sent a message at a
// time: a card number, then its expiry, then its code. Each message is
// scanned with AfterCard from CardAtEnd of the one before.
func TestCardTailAcrossMessages(t *testing.T) {
	e := mustCompile(t, Config{})
	ctx := context.Background()
	tests := []struct {
		messages []string
		types    [][]string // per message
	}{
		{[]string{"my card is 4111 1111 1111 1111", "12/27", "123", "456"},
			[][]string{{"card"}, {"card_expiry"}, {"cvv"}, nil}},
		{[]string{"4111111111111111", "123", " 0928 ", "1230"},
			[][]string{{"card"}, {"cvv"}, {"card_expiry"}, nil}},
		{[]string{"amex 378282246310005", "1234"}, [][]string{{"card"}, {"cvv"}}},
		{[]string{"4111 1111 1111 1111 exp 12/27", "123"}, [][]string{{"card", "card_expiry"}, {"cvv"}}},
		{[]string{"4111 1111 1111 1111 12/27 123", "456"}, [][]string{{"card", "card_expiry", "cvv"}, nil}},
		{[]string{"4111 1111 1111 1111", "thanks, order 123 please"}, [][]string{{"card"}, nil}},
		{[]string{"4111 1111 1111 1111 thanks", "123"}, [][]string{{"card"}, nil}},
		{[]string{"my order is 12345", "123"}, [][]string{nil, nil}},
		// A context word makes its segment wait for text ahead while the
		// next one is scanned.
		{[]string{"4111 1111 1111 1111", "321 Address thanks 42 and then a few more plain words follow on this line ok"}, [][]string{{"card"}, {"cvv"}}},
	}
	for _, tt := range tests {
		after := NoCard
		for i, msg := range tt.messages {
			opts := RedactOptions{AfterCard: after}
			out, fs, err := e.Redact(ctx, []byte(msg), opts)
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, f := range fs {
				types = append(types, f.Type)
			}
			if !slices.Equal(types, tt.types[i]) {
				t.Errorf("%q, message %d %q: types %q, want %q", tt.messages, i, msg, types, tt.types[i])
			}
			for _, f := range fs {
				if v := msg[f.Start:f.End]; f.Type != "card" && strings.Contains(string(out), v) {
					t.Errorf("%q, message %d: masked %q shows %q", tt.messages, i, out, v)
				}
			}
			// The same from a stream fed a byte at a time.
			st := e.NewStream(opts)
			var sout []byte
			for k := range len(msg) {
				o, _, err := st.Write(ctx, []byte(msg[k:k+1]))
				if err != nil {
					t.Fatal(err)
				}
				sout = append(sout, o...)
			}
			o, _, err := st.Flush(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if sout = append(sout, o...); !bytes.Equal(sout, out) {
				t.Errorf("%q, message %d: stream %q, Redact %q", tt.messages, i, sout, out)
			}
			after = CardAtEnd([]byte(msg), fs, after)
		}
	}
}
