package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/veilproxy/veil/web/browsertest"
)

const (
	// demoBadCard fails the Luhn check.
	demoBadCard  = "4111 1111 1111 1112"
	demoFormCard = "5555 5555 5555 4444"
	demoFormCVV  = "737"
)

// tab is one browser tab in the demo's browser test.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
}

// front makes the tab the active one of its window: Chrome gives a hidden
// tab no frames, so a screenshot of it would wait for ever.
func front(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
	_, err := cdp.Call(ctx, t, page.BringToFront, cdp.Empty{})
	return chromedp.Void{}, err
}

// do runs steps in the tab, brought to the front, failing the test after
// 30 seconds.
func (b tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, append([]chromedp.Action[chromedp.Void]{front}, steps...)...); err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, what, err)
	}
}

// text is the visible text of the first element matching the CSS selector.
func (b tab) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("%s: text of %s: %v", b.name, sel, err)
	}
	return s
}

// eval evaluates a JavaScript expression in the tab.
func eval[T any](b tab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("%s: evaluating %s: %v", b.name, expr, err)
	}
	return v
}

// html is the tab's whole document, with the values of form fields.
func (b tab) html() string {
	return eval[string](b, `document.documentElement.outerHTML + Array.from(document.querySelectorAll('input')).map(i => i.value).join(' ')`)
}

// waitFor waits until the JavaScript expression is true in the tab.
func (b tab) waitFor(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		ectx, ecancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer ecancel()
		page, _ := chromedp.Run(ectx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
		b.t.Fatalf("%s: waiting for %s: %v\npage: %s", b.name, what, err, page)
	}
}

// clickToNewTab clicks a link that opens in a new tab and returns that tab.
func (b tab) clickToNewTab(name, sel, urlPart string) tab {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	opened := chromedp.WaitNewTarget(ctx, func(info *target.Info) bool { return strings.Contains(info.URL, urlPart) })
	b.do("clicking "+sel, chromedp.Click(chromedp.CSS(sel)))
	var id target.ID
	select {
	case id = <-opened:
	case <-ctx.Done():
	}
	if id == "" {
		b.t.Fatalf("%s: clicking %s opened no tab on %s", b.name, sel, urlPart)
	}
	nctx, ncancel := chromedp.NewContext(b.ctx, chromedp.WithTargetID(id))
	b.t.Cleanup(ncancel)
	if err := chromedp.Do(nctx); err != nil {
		b.t.Fatalf("%s: attaching to the new tab: %v", b.name, err)
	}
	return tab{t: b.t, name: name, ctx: nctx}
}

// assertNotIn fails the test when page holds any of the values.
func assertNotIn(t *testing.T, where, page string, values ...string) {
	t.Helper()
	for _, v := range values {
		if strings.Contains(page, v) {
			t.Errorf("%s shows %q", where, v)
		}
	}
}

// TestDemoInBrowser walks a newcomer's path through `veil demo` in headless
// Chromium: a card typed as the visitor reaches the agent masked with a
// reveal link that works once; "/secure payment" from the agent gives the
// visitor a form that refuses a bad card and takes a good one, which the
// agent reveals once from the inbox; the bot's streamed card number arrives
// masked.
func TestDemoInBrowser(t *testing.T) {
	bctx := browsertest.Start(t, 1000, 800)
	dir := browsertest.ScreenshotDir(t, "demo")
	d, _, errOut := startTestDemo(t)

	visitor := tab{t: t, name: "visitor", ctx: bctx}
	actx, cancelAgent := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancelAgent)
	// A tab lives as long as the context of its first Run: open it
	// without a timeout.
	if err := chromedp.Do(actx); err != nil {
		t.Fatalf("opening the agent's tab: %v", err)
	}
	agentTab := tab{t: t, name: "agent", ctx: actx}

	step := 0
	shot := func(b tab, name string) {
		t.Helper()
		step++
		b.do("coming to the front")
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		defer cancel()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		file := filepath.Join(dir, fmt.Sprintf("%02d-%s-%s.png", step, b.name, name))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	connected := `document.getElementById('status').textContent.startsWith('Connected')`

	// 1. The visitor types a card number; the agent sees it masked.
	// A page has joined the chat once its own message comes back to it (the
	// backend reads a page's messages only after it has joined), so the
	// agent greets first and the visitor's hello then reaches the agent.
	agentTab.do("open the agent page", chromedp.Navigate(d.URL+"/agent"))
	agentTab.waitFor("the agent page to connect", connected)
	agentTab.do("greet", chromedp.SendKeys(chromedp.ID("text"), "Hi, how can I help?"), chromedp.Click(chromedp.CSS(`#send button`)))
	agentTab.waitFor("the agent's greeting", `document.querySelectorAll('#log li.agent').length >= 1`)
	visitor.do("open the demo's home page", chromedp.Navigate(d.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`a[href="/visitor"]`)))
	shot(visitor, "home")
	if got := visitor.text("main"); !strings.Contains(got, demoTestCard) {
		t.Errorf("the home page does not show its example card number as written: %q", got)
	}
	visitor.do("open the visitor page", chromedp.Click(chromedp.CSS(`a[href="/visitor"]`)), chromedp.WaitVisible(chromedp.ID("status")))
	visitor.waitFor("the visitor page to connect", connected)
	visitor.do("say hello", chromedp.SendKeys(chromedp.ID("text"), "Hello, I need help with a payment"), chromedp.Click(chromedp.CSS(`#send button`)))
	agentTab.waitFor("the visitor's hello", `document.querySelectorAll('#log li.visitor').length >= 1`)
	visitor.do("send a card number", chromedp.SendKeys(chromedp.ID("text"), "My card is "+demoTestCard), chromedp.Click(chromedp.CSS(`#send button`)))
	agentTab.waitFor("the masked card", `document.querySelector('#log li.visitor a[href*="/veil/r/"]') !== null`)
	visitor.waitFor("the visitor's own message", `document.querySelectorAll('#log li.visitor').length >= 2`)
	shot(visitor, "card-sent")
	shot(agentTab, "card-masked")
	line := eval[string](agentTab, `document.querySelectorAll('#log li.visitor')[1].textContent`)
	if !strings.Contains(line, "card ending 1111") {
		t.Errorf("the agent's line %q has no masked preview", line)
	}
	assertNotIn(t, "the agent page", agentTab.html(), demoTestCard, demoTestCardDigits)
	assertNotIn(t, "the visitor page", visitor.html(), demoTestCard, demoTestCardDigits)

	// 2. The agent opens the link, reveals the number once, and cannot
	// again.
	reveal := agentTab.clickToNewTab("reveal", `#log li.visitor a[href*="/veil/r/"]`, "/veil/r/")
	reveal.do("load the reveal page", chromedp.WaitVisible(chromedp.CSS(`form[action^="/veil/r/"] button`)))
	shot(reveal, "reveal-page")
	assertNotIn(t, "the reveal page before the click", reveal.html(), demoTestCard, demoTestCardDigits)
	// A second GET (a link scanner, a reload) consumes nothing.
	reveal.do("reload the reveal page", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`form[action^="/veil/r/"] button`)))
	reveal.do("reveal", chromedp.Click(chromedp.CSS(`form[action^="/veil/r/"] button`)), chromedp.WaitVisible(chromedp.CSS("dd.secret")))
	shot(reveal, "revealed")
	if got := reveal.text("main"); !strings.Contains(got, demoTestCard) && !strings.Contains(got, demoTestCardDigits) || !strings.Contains(got, "erased") {
		t.Errorf("the revealed page says %q; want the number and that it was erased", got)
	}
	reveal.do("go back", chromedp.NavigateBack(), chromedp.WaitVisible(chromedp.CSS("h1")))
	if eval[bool](reveal, `document.querySelector('form[action^="/veil/r/"] button') !== null`) {
		reveal.do("reveal again", chromedp.Click(chromedp.CSS(`form[action^="/veil/r/"] button`)), chromedp.WaitVisible(chromedp.CSS("h1")))
	}
	shot(reveal, "reveal-again")
	if got := reveal.text("h1"); got != "This link is no longer available" {
		t.Errorf("a second reveal shows %q", got)
	}
	assertNotIn(t, "the second reveal", reveal.html(), demoTestCard, demoTestCardDigits)

	// 3. The agent sends a secure form; the visitor fills it.
	agentTab.do("send /secure payment", chromedp.SendKeys(chromedp.ID("text"), "/secure payment"), chromedp.Click(chromedp.CSS(`#send button`)))
	visitor.waitFor("the invitation", `document.querySelector('#log li.agent a[href*="/veil/f/"]') !== null`)
	agentTab.waitFor("the invitation on the agent's page", `document.querySelector('#log li.agent a[href*="/veil/f/"]') !== null`)
	shot(agentTab, "secure-sent")
	shot(visitor, "invitation")
	if got := eval[string](visitor, `Array.from(document.querySelectorAll('#log li.agent')).pop().textContent`); strings.Contains(got, "/secure payment") || !strings.Contains(got, "secure form") {
		t.Errorf("the visitor sees %q, want the invitation", got)
	}
	fill := visitor.clickToNewTab("form", `#log li.agent a[href*="/veil/f/"]`, "/veil/f/")
	fill.do("load the form", chromedp.WaitVisible(chromedp.ID("f-card_number")))
	shot(fill, "form")
	expiry := time.Now().AddDate(2, 0, 0).Format("01/06")
	fill.do("send a bad card",
		chromedp.SendKeys(chromedp.ID("f-card_number"), demoBadCard),
		chromedp.SendKeys(chromedp.ID("f-expiry"), expiry),
		chromedp.SendKeys(chromedp.ID("f-cvv"), demoFormCVV),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("f-card_number-error")),
	)
	shot(fill, "form-error")
	if got := fill.text("#f-card_number-error"); !strings.Contains(got, "card number") {
		t.Errorf("the card field's error is %q", got)
	}
	assertNotIn(t, "the form after an error", fill.html(), demoBadCard, strings.ReplaceAll(demoBadCard, " ", ""))
	if v := eval[string](fill, `['f-card_number', 'f-cvv'].map(id => document.getElementById(id).value).join('')`); v != "" {
		t.Error("the form kept the card number or the CVV after the error")
	}
	fill.do("send a good card",
		chromedp.SendKeys(chromedp.ID("f-card_number"), demoFormCard),
		chromedp.SendKeys(chromedp.ID("f-expiry"), expiry),
		chromedp.SendKeys(chromedp.ID("f-cvv"), demoFormCVV),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p[role="status"]`)),
	)
	shot(fill, "confirmation")
	if got := fill.text("h1"); got != "Thank you" {
		t.Errorf("the confirmation says %q", got)
	}

	agentTab.do("open the inbox", chromedp.Navigate(d.URL+"/veil/agent"), chromedp.WaitVisible(chromedp.CSS("table")))
	shot(agentTab, "inbox")
	rowLink := eval[string](agentTab, `(() => {
		for (const tr of document.querySelectorAll('tbody tr')) {
			const a = tr.querySelector('a.reveal-link');
			if (a && tr.textContent.includes('submitted')) return a.getAttribute('href');
		}
		return '';
	})()`)
	if rowLink == "" {
		t.Fatalf("the inbox has no submitted form with a reveal link: %q", agentTab.text("main"))
	}
	assertNotIn(t, "the inbox", agentTab.html(), demoFormCard, strings.ReplaceAll(demoFormCard, " ", ""), demoTestCard, demoTestCardDigits)
	agentTab.do("open the submission",
		chromedp.Click(chromedp.CSS(`a.reveal-link[href="`+rowLink+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action^="/veil/r/"] button`)),
	)
	shot(agentTab, "submission")
	agentTab.do("reveal the submission", chromedp.Click(chromedp.CSS(`form[action^="/veil/r/"] button`)), chromedp.WaitVisible(chromedp.CSS("dd.secret")))
	shot(agentTab, "submission-revealed")
	got := agentTab.text("main")
	if !strings.Contains(got, strings.ReplaceAll(demoFormCard, " ", "")) && !strings.Contains(got, demoFormCard) || !strings.Contains(got, demoFormCVV) {
		t.Errorf("the revealed submission says %q", got)
	}
	agentTab.do("go back", chromedp.NavigateBack(), chromedp.WaitVisible(chromedp.CSS("h1")))
	if eval[bool](agentTab, `document.querySelector('form[action^="/veil/r/"] button') !== null`) {
		agentTab.do("reveal the submission again", chromedp.Click(chromedp.CSS(`form[action^="/veil/r/"] button`)), chromedp.WaitVisible(chromedp.CSS("h1")))
	}
	shot(agentTab, "submission-again")
	if got := agentTab.text("h1"); got != "This link is no longer available" {
		t.Errorf("a second reveal of the submission shows %q", got)
	}

	// 4. The visitor asks the bot; the streamed answer arrives masked.
	// Every change to the answer is checked, not only the last.
	eval[bool](visitor, `(() => {
		const answer = document.getElementById('answer');
		window.veilSeen = [];
		new MutationObserver(() => window.veilSeen.push(answer.textContent))
			.observe(answer, {childList: true, characterData: true, subtree: true});
		return true;
	})()`)
	visitor.do("ask the bot",
		chromedp.Clear(chromedp.ID("prompt")),
		chromedp.SendKeys(chromedp.ID("prompt"), "What is my card on file?"),
		chromedp.Click(chromedp.CSS(`#ask button`)),
	)
	visitor.waitFor("the bot's answer", `(() => { const a = document.getElementById('answer'); return !a.hasAttribute('aria-busy') && a.textContent.includes('expiring'); })()`)
	shot(visitor, "bot-answer")
	answer := visitor.text("#answer")
	if !strings.Contains(answer, "card ending 4242") {
		t.Errorf("the bot's answer %q has no masked card", answer)
	}
	seen := eval[[]string](visitor, `window.veilSeen`)
	if len(seen) < 3 {
		t.Errorf("the answer changed %d times; want it streamed", len(seen))
	}
	assertNotIn(t, "the streamed answer", strings.Join(seen, "\n"), demoBotCard, demoBotCardDigits)
	assertNotIn(t, "the visitor page", visitor.html(), demoBotCard, demoBotCardDigits, demoFormCard)
	assertNotIn(t, "the demo's log", errOut.String(), demoTestCard, demoTestCardDigits, demoBotCard, demoBotCardDigits,
		demoFormCard, strings.ReplaceAll(demoFormCard, " ", ""), strings.TrimPrefix(rowLink, "/veil/r/"))
	t.Logf("%d screenshots in %s", step, dir)
}
