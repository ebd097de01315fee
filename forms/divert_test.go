package forms

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/veilproxy/veil/detectors"
)

func TestPreview(t *testing.T) {
	tests := []struct {
		typ, value, want string
	}{
		{"card", "4111 1111 1111 1111", "card ending 1111"},
		{"ssn", "219-09-9998", "SSN ending 9998"},
		{"mbi", "1EG4-TE5-MK73", "MBI ending MK73"},
		{"cvv", "737", "CVV"},
		{"email", "someone@example.com", "email"},
		{"dob", "1984-07-31", "date of birth"},
		{"card_track", "%B4111111111111111^DOE/J^2512", "card track data"},
		{"ssn", "12-34", "SSN"}, // too short to show any of it
	}
	for _, tt := range tests {
		t.Run(tt.typ+"/"+tt.want, func(t *testing.T) {
			if got := preview(tt.typ, []byte(tt.value)); got != tt.want {
				t.Errorf("preview(%s) = %q, want %q", tt.typ, got, tt.want)
			}
		})
	}
}

func divert(t *testing.T, d detectors.Diverter, typ, value string) string {
	t.Helper()
	text, err := d.Divert(t.Context(), detectors.Finding{Type: typ, Rule: typ + "_rule", Action: detectors.ActionDivert}, []byte(value))
	if err != nil {
		t.Fatalf("Divert: %v", err)
	}
	return text
}

// TestDiverter checks the link text, that a repeated value in one
// conversation maps to one link, and the reveal of a capture.
func TestDiverter(t *testing.T) {
	e := newEnv(t)
	link := regexp.MustCompile(`^\[card ending 1111 · (` + regexp.QuoteMeta(e.srv.URL) + `/veil/r/[A-Za-z0-9_-]{22,})\]$`)
	d := e.forms.NewDiverter()
	first := divert(t, d, "card", "4111111111111111")
	m := link.FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("link text %q", first)
	}
	if again := divert(t, d, "card", "4111111111111111"); again != first {
		t.Errorf("same value, new link: %q", again)
	}
	if other := divert(t, d, "card", "5105105105105100"); other == first {
		t.Error("another value got the same link")
	}
	if elsewhere := divert(t, e.forms.NewDiverter(), "card", "4111111111111111"); elsewhere == first {
		t.Error("another conversation got the same link")
	}

	inbox := e.get(t, e.login(t), e.srv.URL+"/veil/agent")
	if !strings.Contains(inbox.body, "card ending 1111") || !strings.Contains(inbox.body, `href="`+m[1]+`"`) {
		t.Error("inbox lacks the capture and its link")
	}
	assertAbsent(t, "inbox", inbox.body, "4111111111111111")

	res := e.api(t, http.MethodPost, m[1])
	var a revealAnswer
	if err := json.Unmarshal([]byte(res.body), &a); err != nil || res.status != http.StatusOK {
		t.Fatalf("reveal: %d %s", res.status, res.body)
	}
	var value string
	if err := json.Unmarshal(a.Value, &value); err != nil || value != "4111111111111111" || a.Type != "card" {
		t.Errorf("revealed %s %s", a.Type, a.Value)
	}
	if again := e.api(t, http.MethodPost, m[1]); again.status != goneStatus {
		t.Errorf("second reveal: %d", again.status)
	}
	// Once revealed, the value is gone: seeing it again needs a new record.
	if after := divert(t, d, "card", "4111111111111111"); after == first || !link.MatchString(after) {
		t.Errorf("after the reveal: %q", after)
	}
	assertAbsent(t, "logs", e.logs.String(), "4111111111111111", tokenOf(m[1]))
}

// TestDiverterOneTime checks a CVV is kept for one reveal only.
func TestDiverterOneTime(t *testing.T) {
	e := newEnv(t)
	text := divert(t, e.forms.NewDiverter(), "cvv", "737")
	if !strings.HasPrefix(text, "[CVV · ") {
		t.Fatalf("link text %q", text)
	}
	u := strings.TrimSuffix(text[strings.Index(text, "http"):], "]")
	if r := e.api(t, http.MethodPost, u); r.status != http.StatusOK || !strings.Contains(r.body, `"737"`) {
		t.Fatalf("reveal: %d", r.status)
	}
	if r := e.api(t, http.MethodPost, u); r.status != goneStatus {
		t.Fatalf("second reveal: %d", r.status)
	}
}

func TestLinkTemplate(t *testing.T) {
	e := newEnv(t, func(o *Options, _ *[]FormSpec) { o.LinkTemplate = "<{type}: {preview} {url} until {expires}>" })
	text := divert(t, e.forms.NewDiverter(), "ssn", "219-09-9998")
	re := regexp.MustCompile(`^<ssn: SSN ending 9998 ` + regexp.QuoteMeta(e.srv.URL) + `/veil/r/\S+ until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ>$`)
	if !re.MatchString(text) {
		t.Errorf("link text %q", text)
	}
}

// TestDiverterConcurrent checks one diverter shared by streams under -race.
func TestDiverterConcurrent(t *testing.T) {
	e := newEnv(t)
	d := e.forms.NewDiverter()
	out := make(chan string, 8)
	for range 8 {
		go func() {
			text, err := d.Divert(t.Context(), detectors.Finding{Type: "card"}, []byte("4111111111111111"))
			if err != nil {
				text = "error: " + err.Error()
			}
			out <- text
		}()
	}
	first := <-out
	for range 7 {
		if got := <-out; got != first {
			t.Errorf("concurrent diverts of one value: %q vs %q", got, first)
		}
	}
}
