package forms

import (
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Submitted test values. Each is long and distinctive enough that finding
// it in a page or a log line can only mean it leaked.
const (
	goodCard   = "5555 5555 5555 4444"
	goodDigits = "5555555555554444"
	badCard    = "4111 1111 1111 1112"
	goodExpiry = "09/31"
	goodCVV    = "8642"
)

func goodPayment() url.Values {
	return url.Values{"card_number": {goodCard}, "expiry": {goodExpiry}, "cvv": {goodCVV}}
}

// assertAbsent fails when any secret appears in text, raw or HTML-escaped.
func assertAbsent(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) || strings.Contains(text, html.EscapeString(s)) {
			t.Errorf("%s contains %q", where, s)
		}
	}
}

// tokenOf returns the token at the end of a fill or reveal URL.
func tokenOf(u string) string { return u[strings.LastIndex(u, "/")+1:] }

// TestFormFlow walks the whole flow: mint, a bad then a good submission,
// the inbox, one reveal, a refused second reveal, a dead fill link; and
// checks no page but the one reveal, and no log line, holds a submitted
// value or a link token.
func TestFormFlow(t *testing.T) {
	e := newEnv(t)
	m := e.mint(t, "payment")
	if !strings.HasPrefix(m.FillURL, e.srv.URL+"/veil/f/") || !strings.HasPrefix(m.RevealURL, e.srv.URL+"/veil/r/") {
		t.Fatalf("links %q %q not under the public URL", m.FillURL, m.RevealURL)
	}
	if d := m.ExpiresAt.Sub(e.clock.Now()); d < 59*time.Minute || d > time.Hour+time.Minute {
		t.Errorf("expires in %v, want the form's 1h ttl", d)
	}
	secrets := []string{goodCard, goodDigits, badCard, goodExpiry, goodCVV}
	var pages []string

	visitor := e.client()
	page := e.get(t, visitor, m.FillURL)
	pages = append(pages, page.body)
	for _, want := range []string{`<label for="f-card_number">`, `<label for="f-expiry">`, `<label for="f-cvv">`, `autocomplete="cc-number"`, `aria-describedby="f-card_number-help"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("fill page lacks %s", want)
		}
	}
	if strings.Contains(page.body, "<script") {
		t.Error("fill page carries script")
	}

	bad := e.fill(t, visitor, m.FillURL, url.Values{"card_number": {badCard}, "expiry": {goodExpiry}, "cvv": {goodCVV}})
	pages = append(pages, bad.body)
	if bad.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad card: status %d", bad.status)
	}
	for _, want := range []string{
		`href="#f-card_number"`,
		`aria-invalid="true"`,
		`aria-describedby="f-card_number-help f-card_number-error"`,
		`id="f-card_number-error"`,
		"Enter a valid card number",
		"was not kept",
	} {
		if !strings.Contains(bad.body, want) {
			t.Errorf("error page lacks %s", want)
		}
	}
	if strings.Count(bad.body, `aria-invalid="true"`) != 1 {
		t.Error("only the card number is in error")
	}

	missing := e.fill(t, visitor, m.FillURL, url.Values{})
	pages = append(pages, missing.body)
	if missing.status != http.StatusUnprocessableEntity || strings.Count(missing.body, `aria-invalid="true"`) != 3 {
		t.Errorf("empty form: status %d, want 3 fields in error", missing.status)
	}

	done := e.fill(t, visitor, m.FillURL, goodPayment())
	pages = append(pages, done.body)
	if done.status != http.StatusOK || !strings.Contains(done.body, "Thank you") {
		t.Fatalf("good submission: %d\n%s", done.status, done.body)
	}
	again := e.get(t, visitor, m.FillURL)
	pages = append(pages, again.body)
	if again.status != goneStatus || !strings.Contains(again.body, "no longer available") {
		t.Errorf("used fill link: %d", again.status)
	}
	resubmit := e.postForm(t, visitor, m.FillURL, goodPayment())
	pages = append(pages, resubmit.body)
	if resubmit.status != goneStatus {
		t.Errorf("second submit: %d", resubmit.status)
	}

	ag := e.login(t)
	inbox := e.get(t, ag, e.srv.URL+"/veil/agent")
	pages = append(pages, inbox.body)
	if inbox.status != http.StatusOK || !strings.Contains(inbox.body, "submitted") || !strings.Contains(inbox.body, `href="`+m.RevealURL+`"`) {
		t.Fatalf("inbox: %d lacks the submitted form and its link\n%s", inbox.status, inbox.body)
	}
	if strings.Contains(inbox.body, m.FillURL) {
		t.Error("inbox offers the used fill link")
	}

	for range 2 {
		rp := e.get(t, ag, m.RevealURL)
		pages = append(pages, rp.body)
		if rp.status != http.StatusOK || !strings.Contains(rp.body, ">Reveal</button>") {
			t.Fatalf("reveal page: %d", rp.status)
		}
	}
	shown := e.reveal(t, ag, m.RevealURL)
	if shown.status != http.StatusOK {
		t.Fatalf("reveal: %d\n%s", shown.status, shown.body)
	}
	for _, want := range []string{goodCard, goodExpiry, goodCVV, "erased"} {
		if !strings.Contains(shown.body, want) {
			t.Errorf("revealed page lacks %q", want)
		}
	}
	if shown.header.Get("Cache-Control") != "no-store" || shown.header.Get("Content-Security-Policy") == "" {
		t.Errorf("revealed page headers: %v", shown.header)
	}

	second := e.get(t, ag, m.RevealURL)
	pages = append(pages, second.body)
	if second.status != goneStatus {
		t.Errorf("second reveal page: %d", second.status)
	}
	secondPost := e.postForm(t, ag, m.RevealURL, url.Values{"csrf_token": {csrf(t, inbox.body)}})
	pages = append(pages, secondPost.body)
	if secondPost.status != goneStatus || strings.Contains(secondPost.body, goodCVV) {
		t.Errorf("second reveal: %d", secondPost.status)
	}

	for i, p := range pages {
		assertAbsent(t, "page "+string(rune('A'+i)), p, secrets...)
	}
	logs := e.logs.String()
	assertAbsent(t, "logs", logs, append(secrets, tokenOf(m.FillURL), tokenOf(m.RevealURL), testAPIToken, testPassword)...)
	if !strings.Contains(logs, "form submitted") {
		t.Error("logs lack the submission event: is the logger wired?")
	}
}

// TestRevealCSRF checks a session reveal without the CSRF token is refused
// and consumes nothing.
func TestRevealCSRF(t *testing.T) {
	e := newEnv(t)
	m := e.mint(t, "payment")
	e.fill(t, e.client(), m.FillURL, goodPayment())
	ag := e.login(t)
	res := e.postForm(t, ag, m.RevealURL, url.Values{"csrf_token": {"forged"}})
	if res.status != http.StatusForbidden {
		t.Fatalf("forged csrf: %d", res.status)
	}
	if shown := e.reveal(t, ag, m.RevealURL); shown.status != http.StatusOK {
		t.Fatalf("reveal after refused attempt: %d", shown.status)
	}
}

// TestFillCSRF checks a submission without the page's CSRF token is refused
// and the link stays usable.
func TestFillCSRF(t *testing.T) {
	e := newEnv(t)
	m := e.mint(t, "payment")
	c := e.client()
	e.get(t, c, m.FillURL)
	res := e.postForm(t, c, m.FillURL, goodPayment())
	if res.status != http.StatusForbidden {
		t.Fatalf("no csrf token: %d", res.status)
	}
	assertAbsent(t, "refused page", res.body, goodCard, goodExpiry, goodCVV)
	if ok := e.fill(t, c, m.FillURL, goodPayment()); ok.status != http.StatusOK {
		t.Fatalf("fill after refusal: %d", ok.status)
	}
}

type revealAnswer struct {
	Type      string          `json:"type"`
	Value     json.RawMessage `json:"value"`
	CreatedAt time.Time       `json:"created_at"`
}

// TestRevealAPI checks the JSON reveal: 401 without valid credentials
// (nothing consumed), the value once, then 404.
func TestRevealAPI(t *testing.T) {
	e := newEnv(t)
	m := e.mint(t, "payment")
	e.fill(t, e.client(), m.FillURL, goodPayment())

	for name, auth := range map[string]string{"none": "", "wrong token": "Bearer nope"} {
		req, _ := http.NewRequest(http.MethodPost, m.RevealURL, nil)
		req.Header.Set("Accept", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if res := do(t, http.DefaultClient, req); res.status != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, res.status)
		}
	}

	res := e.api(t, http.MethodPost, m.RevealURL)
	if res.status != http.StatusOK {
		t.Fatalf("reveal: %d %s", res.status, res.body)
	}
	var a revealAnswer
	if err := json.Unmarshal([]byte(res.body), &a); err != nil {
		t.Fatal(err)
	}
	var fields map[string]string
	if err := json.Unmarshal(a.Value, &fields); err != nil {
		t.Fatalf("value is not a JSON object of fields: %s", a.Value)
	}
	if a.Type != "payment" || fields["card_number"] != goodCard || fields["expiry"] != goodExpiry || fields["cvv"] != goodCVV {
		t.Errorf("answer %+v fields %v", a, fields)
	}
	if a.CreatedAt.IsZero() || a.CreatedAt.After(e.clock.Now().Add(time.Second)) {
		t.Errorf("created_at %v", a.CreatedAt)
	}
	again := e.api(t, http.MethodPost, m.RevealURL)
	if again.status != goneStatus || strings.Contains(again.body, goodCVV) {
		t.Errorf("second reveal: %d %s", again.status, again.body)
	}
}

// TestGetNeverConsumes checks GETs of both links, as link scanners send
// them, change nothing.
func TestGetNeverConsumes(t *testing.T) {
	e := newEnv(t)
	m := e.mint(t, "payment")
	scanner := e.client()
	for range 3 {
		if r := e.get(t, scanner, m.FillURL); r.status != http.StatusOK {
			t.Fatalf("fill GET: %d", r.status)
		}
		if r := e.get(t, scanner, m.RevealURL); r.status != http.StatusSeeOther {
			t.Fatalf("reveal GET without login: %d, want a redirect to the login", r.status)
		}
	}
	if r := e.fill(t, e.client(), m.FillURL, goodPayment()); r.status != http.StatusOK {
		t.Fatalf("fill after GETs: %d", r.status)
	}
	ag := e.login(t)
	for range 3 {
		if r := e.get(t, ag, m.RevealURL); r.status != http.StatusOK {
			t.Fatalf("reveal GET: %d", r.status)
		}
	}
	if r := e.reveal(t, ag, m.RevealURL); r.status != http.StatusOK || !strings.Contains(r.body, goodCard) {
		t.Fatalf("reveal after GETs: %d", r.status)
	}
}

// TestGoneIdentical checks unknown, used and expired links get one page.
func TestGoneIdentical(t *testing.T) {
	e := newEnv(t)
	ag := e.login(t)

	used := e.mint(t, "payment")
	e.fill(t, e.client(), used.FillURL, goodPayment())
	if r := e.reveal(t, ag, used.RevealURL); r.status != http.StatusOK {
		t.Fatalf("reveal: %d", r.status)
	}
	expired := e.mint(t, "payment")
	e.fill(t, e.client(), expired.FillURL, goodPayment())
	expiredFill := e.mint(t, "payment")
	e.clock.Add(25 * time.Hour) // past the vault's 24h retention a submission gets
	ag = e.login(t)             // the first session has idled out
	unknownFill := e.srv.URL + "/veil/f/" + strings.Repeat("A", len(tokenOf(used.FillURL)))
	unknownReveal := e.srv.URL + "/veil/r/" + strings.Repeat("A", len(tokenOf(used.RevealURL)))

	type got struct {
		status int
		body   string
	}
	check := func(name string, urls map[string]string, fetch func(string) response) {
		t.Run(name, func(t *testing.T) {
			var first *got
			for what, u := range urls {
				r := fetch(u)
				g := got{r.status, r.body}
				if g.status != goneStatus || !strings.Contains(g.body, "no longer available") {
					t.Errorf("%s: %d", what, g.status)
				}
				if first == nil {
					first = &g
				} else if g != *first {
					t.Errorf("%s: page differs from the others", what)
				}
			}
		})
	}
	check("fill GET", map[string]string{"unknown": unknownFill, "used": used.FillURL, "expired": expiredFill.FillURL},
		func(u string) response { return e.get(t, e.client(), u) })
	check("fill POST", map[string]string{"unknown": unknownFill, "used": used.FillURL, "expired": expiredFill.FillURL},
		func(u string) response { return e.postForm(t, e.client(), u, goodPayment()) })
	check("reveal GET", map[string]string{"unknown": unknownReveal, "used": used.RevealURL, "expired": expired.RevealURL},
		func(u string) response { return e.get(t, ag, u) })
	inbox := e.get(t, ag, e.srv.URL+"/veil/agent")
	check("reveal POST", map[string]string{"unknown": unknownReveal, "used": used.RevealURL, "expired": expired.RevealURL},
		func(u string) response { return e.postForm(t, ag, u, url.Values{"csrf_token": {csrf(t, inbox.body)}}) })
	check("reveal API", map[string]string{"unknown": unknownReveal, "used": used.RevealURL, "expired": expired.RevealURL},
		func(u string) response { return e.api(t, http.MethodPost, u) })
}

// TestRevealWaitingForm checks revealing a form the visitor has not sent
// consumes nothing.
func TestRevealWaitingForm(t *testing.T) {
	e := newEnv(t)
	m := e.mint(t, "insurance")
	if r := e.api(t, http.MethodPost, m.RevealURL); r.status != http.StatusConflict {
		t.Fatalf("waiting form reveal: %d", r.status)
	}
	vals := url.Values{"member_id": {"XQZ-88231-77"}, "plan_name": {"Blue Choice PPO"}}
	if r := e.fill(t, e.client(), m.FillURL, vals); r.status != http.StatusOK {
		t.Fatalf("fill: %d %s", r.status, r.body)
	}
	if r := e.api(t, http.MethodPost, m.RevealURL); r.status != http.StatusOK || !strings.Contains(r.body, "XQZ-88231-77") {
		t.Fatalf("reveal: %d", r.status)
	}
}

// TestOnSchedule checks an on_schedule submission is shown once, or again
// when the form says reveal_again.
func TestOnSchedule(t *testing.T) {
	for _, again := range []bool{false, true} {
		t.Run(map[bool]string{false: "once", true: "reveal_again"}[again], func(t *testing.T) {
			e := newEnv(t, func(_ *Options, specs *[]FormSpec) {
				*specs = []FormSpec{{Name: "member", Title: "Member", TTL: time.Hour, Purge: PurgeOnSchedule, RevealAgain: again,
					Fields: []FieldSpec{{Name: "member_id", Label: "Member ID", Validate: "required"}}}}
			})
			m := e.mint(t, "member")
			e.fill(t, e.client(), m.FillURL, url.Values{"member_id": {"MEM-4471-0093"}})
			ag := e.login(t)
			if r := e.reveal(t, ag, m.RevealURL); r.status != http.StatusOK || !strings.Contains(r.body, "MEM-4471-0093") || !strings.Contains(r.body, "sealed in the vault until") {
				t.Fatalf("first reveal: %d\n%s", r.status, r.body)
			}
			r := e.reveal(t, ag, m.RevealURL)
			if again && (r.status != http.StatusOK || !strings.Contains(r.body, "MEM-4471-0093")) {
				t.Errorf("reveal_again: second reveal %d", r.status)
			}
			if !again && (r.status != goneStatus || strings.Contains(r.body, "MEM-4471-0093")) {
				t.Errorf("second reveal: %d", r.status)
			}
			if a := e.api(t, http.MethodPost, m.RevealURL); (a.status == http.StatusOK) != again {
				t.Errorf("API second reveal: %d", a.status)
			}
		})
	}
}

// TestMintAPI checks the link API's answers.
func TestMintAPI(t *testing.T) {
	e := newEnv(t)
	if r := e.api(t, http.MethodPost, e.srv.URL+"/veil/api/forms/nope/links"); r.status != http.StatusNotFound {
		t.Errorf("unknown form: %d", r.status)
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/veil/api/forms/payment/links", nil)
	req.Header.Set("Accept", "application/json")
	if r := do(t, http.DefaultClient, req); r.status != http.StatusUnauthorized {
		t.Errorf("no credentials: %d", r.status)
	}
	ag := e.login(t)
	inbox := e.get(t, ag, e.srv.URL+"/veil/agent")
	if r := e.postForm(t, ag, e.srv.URL+"/veil/api/forms/payment/links", url.Values{}); r.status != http.StatusForbidden {
		t.Errorf("session without csrf: %d", r.status)
	}
	r := e.postForm(t, ag, e.srv.URL+"/veil/api/forms/identity/links", url.Values{"csrf_token": {csrf(t, inbox.body)}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/veil/agent" {
		t.Fatalf("inbox button: %d %v", r.status, r.header)
	}
	after := e.get(t, ag, e.srv.URL+"/veil/agent")
	if !strings.Contains(after.body, "Verify your identity") || !strings.Contains(after.body, `class="fill-link"`) {
		t.Errorf("inbox lacks the new waiting form")
	}
}

// TestSecureCommand checks the chat command's invitation and inbox entry.
func TestSecureCommand(t *testing.T) {
	e := newEnv(t)
	text, ok, err := e.forms.SecureCommand(t.Context(), "payment")
	if err != nil || !ok {
		t.Fatalf("SecureCommand: %v %v", ok, err)
	}
	if !strings.HasPrefix(text, "Please don't type card details") || !strings.Contains(text, e.srv.URL+"/veil/f/") {
		t.Errorf("invitation %q", text)
	}
	fillURL := text[strings.Index(text, e.srv.URL+"/veil/f/"):]
	if r := e.get(t, e.client(), fillURL); r.status != http.StatusOK {
		t.Errorf("invitation link: %d", r.status)
	}
	if _, ok, err := e.forms.SecureCommand(t.Context(), "nope"); ok || err != nil {
		t.Errorf("unknown form: ok=%v err=%v", ok, err)
	}
	inbox := e.get(t, e.login(t), e.srv.URL+"/veil/agent")
	if !strings.Contains(inbox.body, `href="`+fillURL+`"`) || !strings.Contains(inbox.body, `class="reveal-link"`) {
		t.Errorf("inbox lacks the command's links")
	}
}

// TestSecurityHeaders checks every page and the static files carry them.
func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	m := e.mint(t, "payment")
	for _, u := range []string{m.FillURL, m.RevealURL, e.srv.URL + "/veil/agent", e.srv.URL + "/veil/static/veil.css", e.srv.URL + "/veil/f/unknown"} {
		r := e.get(t, e.client(), u)
		for _, h := range []string{"Content-Security-Policy", "Referrer-Policy", "X-Content-Type-Options"} {
			if r.header.Get(h) == "" {
				t.Errorf("%s: no %s", u, h)
			}
		}
	}
	css := e.get(t, e.client(), e.srv.URL+"/veil/static/veil.css")
	if css.status != http.StatusOK || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
		t.Errorf("veil.css: %d %s", css.status, css.header.Get("Content-Type"))
	}
}

func TestNewErrors(t *testing.T) {
	e := newEnv(t)
	base := Options{Vault: e.vault, Auth: e.auth}
	tests := []struct {
		name  string
		specs []FormSpec
		opts  func(Options) Options
	}{
		{"no vault", nil, func(o Options) Options { o.Vault = nil; return o }},
		{"relative public url", nil, func(o Options) Options { o.PublicURL = "chat.example.com"; return o }},
		{"link template without url", nil, func(o Options) Options { o.LinkTemplate = "[{preview}]"; return o }},
		{"bad spec", []FormSpec{{Name: "x"}}, func(o Options) Options { return o }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.specs, tt.opts(base)); err == nil {
				t.Error("no error")
			}
		})
	}
}

// TestRevealThrottled checks failed reveals count against the agent's rate
// limit, and that a throttled reveal consumes nothing.
func TestRevealThrottled(t *testing.T) {
	e := newEnv(t)
	m := e.mint(t, "payment")
	e.fill(t, e.client(), m.FillURL, goodPayment())
	unknown := e.srv.URL + "/veil/r/" + strings.Repeat("B", len(tokenOf(m.RevealURL)))
	throttled := false
	for range 30 {
		r := e.api(t, http.MethodPost, unknown)
		if r.status == http.StatusTooManyRequests {
			throttled = true
			break
		}
		if r.status != goneStatus {
			t.Fatalf("unknown link: %d", r.status)
		}
	}
	if !throttled {
		t.Fatal("30 failed reveals and no 429")
	}
	if r := e.api(t, http.MethodPost, m.RevealURL); r.status != http.StatusTooManyRequests {
		t.Fatalf("valid link while throttled: %d", r.status)
	}
	e.clock.Add(15 * time.Minute)
	if r := e.api(t, http.MethodPost, m.RevealURL); r.status != http.StatusOK || !strings.Contains(r.body, goodCVV) {
		t.Fatalf("valid link after the wait: %d", r.status)
	}
}

// TestInboxLinksSurviveReload checks that a forms server built to replace
// another (a config reload) lists the links the old one minted, under its
// own public URL, and that one built afresh cannot.
func TestInboxLinksSurviveReload(t *testing.T) {
	e := newEnv(t)
	m := e.mint(t, "payment")
	const publicURL = "https://chat.example.test"
	ag := e.login(t)
	inboxOf := func(prev *Server) string {
		next, err := New(nil, Options{Vault: e.vault, Auth: e.auth, PublicURL: publicURL, Now: e.clock.Now, Previous: prev})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		next.Routes(mux)
		e.auth.Routes(mux)
		srv := httptest.NewServer(mux)
		defer srv.Close()
		// Session cookies belong to the host, whatever the port.
		inbox := e.get(t, ag, srv.URL+"/veil/agent")
		if inbox.status != http.StatusOK {
			t.Fatalf("inbox: %d", inbox.status)
		}
		return inbox.body
	}
	fill := publicURL + strings.TrimPrefix(m.FillURL, e.srv.URL)
	if body := inboxOf(e.forms); !strings.Contains(body, `href="`+fill+`"`) {
		t.Errorf("the reloaded inbox does not offer the fill link minted before\n%s", body)
	}
	if body := inboxOf(nil); strings.Contains(body, fill) {
		t.Error("a fresh forms server offers a link it never saw")
	}
}
