package forms

import (
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzSubmit posts arbitrary values to the payment form. The handler must
// never panic, and no value may appear in the page it answers with (unless
// it was already part of the page for an empty submission: a value like
// "Card" is in every page).
func FuzzSubmit(f *testing.F) {
	f.Add(badCard, goodExpiry, goodCVV)
	f.Add(goodCard, "13/99", "12")
	f.Add("<script>alert(1)</script>", "\"><img src=x>", "&amp;")
	f.Add("", "", "")
	f.Add("\xff\xfe", "09/31\x00", strings.Repeat("9", 600))
	f.Add("4111 1111 1111 1111", "01/20", "abcd")
	e := newEnv(f)
	c := e.client()
	m := e.mint(f, "payment")
	page := e.get(f, c, m.FillURL)
	token := csrf(f, page.body)
	cookies := c.Jar.Cookies(mustURL(f, m.FillURL))

	post := func(vals url.Values) *httptest.ResponseRecorder {
		vals.Set("csrf_token", token)
		req := httptest.NewRequest(http.MethodPost, m.FillURL, strings.NewReader(vals.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
		rec := httptest.NewRecorder()
		e.mux.ServeHTTP(rec, req)
		return rec
	}
	// Text any error page may hold whatever was typed: the page for an empty
	// submission and every field message.
	baseline := post(url.Values{}).Body.String()
	for _, fl := range DefaultForms()[0].Fields {
		for _, tag := range []string{"required", "card", "card_expiry", "numeric", "min", "toolong", "invalid"} {
			baseline += "\n" + html.EscapeString(fieldMessage(fl, tag))
		}
	}

	f.Fuzz(func(t *testing.T, card, expiry, cvv string) {
		rec := post(url.Values{"card_number": {card}, "expiry": {expiry}, "cvv": {cvv}})
		if rec.Code == http.StatusOK {
			// All three were valid: the link is used; mint the next one.
			m = e.mint(t, "payment")
			return
		}
		if rec.Code != http.StatusUnprocessableEntity {
			t.Fatalf("status %d", rec.Code)
		}
		body := rec.Body.String()
		for _, v := range []string{card, expiry, cvv} {
			v = strings.TrimSpace(v)
			if len(v) < 3 || strings.Contains(baseline, v) || strings.Contains(baseline, html.EscapeString(v)) {
				continue
			}
			if strings.Contains(body, v) || strings.Contains(body, html.EscapeString(v)) {
				t.Fatalf("value %q echoed into the page", v)
			}
		}
	})
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
