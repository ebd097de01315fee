package forms

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/pquerna/otp/totp"

	"github.com/veilproxy/veil/web/browsertest"
)

// TestBrowserFlow drives the whole flow in headless Chromium: an agent
// mints a link with an API token; the visitor submits a bad card number,
// sees the field error, submits a good one with the keyboard and sees the
// confirmation; the agent signs in with password and TOTP, finds the
// submission in the inbox and reveals it once; the second reveal and the
// used fill link are refused.
func TestBrowserFlow(t *testing.T) {
	// A bound on the whole flow: the browser must not hang the run.
	ctx, cancel := context.WithTimeout(browsertest.Start(t, 1000, 900), 2*time.Minute)
	defer cancel()
	dir := browsertest.ScreenshotDir(t, "forms")
	e := newEnv(t)
	m := e.mint(t, "payment")

	step := 0
	shot := func(name string) {
		t.Helper()
		step++
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%02d-%s.png", step, name)), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	value := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("value of %s: %v", sel, err)
		}
		return s
	}

	// The visitor opens the link and sends a bad card number.
	do("open the fill link", chromedp.Navigate(m.FillURL), chromedp.WaitVisible(chromedp.ID("f-card_number")))
	shot("fill")
	do("fill with a bad card",
		chromedp.SendKeys(chromedp.ID("f-card_number"), badCard),
		chromedp.SendKeys(chromedp.ID("f-expiry"), goodExpiry),
		chromedp.SendKeys(chromedp.ID("f-cvv"), goodCVV),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".summary")),
	)
	shot("fill-error")
	if got := text("#f-card_number-error"); !strings.Contains(got, "valid card number") {
		t.Errorf("field error %q", got)
	}
	if got := text(".summary"); !strings.Contains(got, "Card number") {
		t.Errorf("error summary %q", got)
	}
	for _, sel := range []string{"#f-card_number", "#f-expiry", "#f-cvv"} {
		if v := value(sel); v != "" {
			t.Errorf("%s kept a value after the error", sel)
		}
	}
	invalid, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("f-card_number"), "aria-invalid"))
	if err != nil || invalid.Value != "true" {
		t.Errorf("aria-invalid = %+v %v", invalid, err)
	}
	focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.className`))
	t.Logf("focus after the error: %q (%v)", focused, err)
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	assertAbsent(t, "error page", html, badCard, goodExpiry, goodCVV)

	// At 200% zoom (half the CSS width) the form still fits the width.
	do("zoom to 200%", chromedp.EmulateViewport(500, 900, chromedp.EmulateScale(2)))
	fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
	if err != nil || !fits {
		t.Errorf("page scrolls sideways at 200%% zoom (%v)", err)
	}
	shot("fill-error-zoom200")
	do("zoom back", chromedp.EmulateViewport(1000, 900))

	// Keyboard only: type into each field and press Enter to submit.
	do("fill with a good card",
		chromedp.Click(chromedp.CSS(`.summary a[href="#f-card_number"]`)),
		chromedp.SendKeys(chromedp.ID("f-card_number"), goodCard),
		chromedp.SendKeys(chromedp.ID("f-expiry"), goodExpiry),
		chromedp.SendKeys(chromedp.ID("f-cvv"), goodCVV+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`p[role="status"]`)),
	)
	shot("confirmation")
	if got := text("h1"); got != "Thank you" {
		t.Errorf("confirmation heading %q", got)
	}

	// The agent signs in and opens the inbox.
	do("open the inbox", chromedp.Navigate(e.srv.URL+"/veil/agent"), chromedp.WaitVisible(chromedp.ID("username")))
	shot("login")
	code, err := totp.GenerateCode(e.totpSecret, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	do("sign in",
		chromedp.SendKeys(chromedp.ID("username"), testAgent),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Click(chromedp.CSS(`form.login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("table")),
	)
	shot("inbox")
	if got := text("tbody"); !strings.Contains(got, "Payment card") || !strings.Contains(got, "submitted") {
		t.Errorf("inbox rows %q", got)
	}

	// One reveal.
	do("open the reveal link", chromedp.Click(chromedp.CSS("a.reveal-link")), chromedp.WaitVisible(chromedp.CSS(`form[action^="/veil/r/"] button`)))
	shot("reveal")
	do("reveal", chromedp.Click(chromedp.CSS(`form[action^="/veil/r/"] button`)), chromedp.WaitVisible(chromedp.CSS("dd.secret")))
	shot("revealed")
	if got := text("main"); !strings.Contains(got, goodCard) || !strings.Contains(got, goodCVV) || !strings.Contains(got, "erased") {
		t.Errorf("revealed page %q", got)
	}

	// The second reveal and the used fill link are refused.
	do("open the reveal link again", chromedp.Navigate(m.RevealURL), chromedp.WaitVisible(chromedp.CSS("h1")))
	shot("reveal-again")
	if got := text("h1"); got != "This link is no longer available" {
		t.Errorf("second reveal heading %q", got)
	}
	if got := text("main"); strings.Contains(got, goodCard) {
		t.Error("second reveal shows the value")
	}
	do("open the fill link again", chromedp.Navigate(m.FillURL), chromedp.WaitVisible(chromedp.CSS("h1")))
	shot("fill-again")
	if got := text("h1"); got != "This link is no longer available" {
		t.Errorf("used fill link heading %q", got)
	}
	assertAbsent(t, "logs", e.logs.String(), goodCard, goodDigits, badCard, goodCVV, tokenOf(m.FillURL), tokenOf(m.RevealURL))
}
