package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

const ticket = "ZX-123456"

// postTicket sends a message with a ticket number and returns what the
// upstream received.
func postTicket(t *testing.T, e *serveEnv) string {
	t.Helper()
	n := len(e.up.received())
	if code, body := postJSON(t, e.base+"/api/messages", `{"text":"about `+ticket+` please"}`); code != http.StatusOK {
		t.Fatalf("post: status %d %s", code, body)
	}
	return e.up.waitReceived(t, n+1)[n]
}

// metricLine returns the value of the sample named exactly by series, or
// "" when the metrics lack it.
func metricLine(t *testing.T, e *serveEnv, series string) string {
	t.Helper()
	_, text := httpGet(t, e.admin+"/metrics")
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return v
		}
	}
	return ""
}

// TestServeReload swaps rules in and out of a running Veil: a valid config
// takes effect, an invalid one is refused with its line and counted while
// the old rules keep serving, a file change is picked up by the watcher,
// and a WebSocket opened before all of it keeps working.
func TestServeReload(t *testing.T) {
	up := newChatUpstream(t)
	e := newServeEnv(t, up)
	ctx := t.Context()

	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.base, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()

	if got := postTicket(t, e); !strings.Contains(got, ticket) {
		t.Fatalf("before any rule the ticket should pass through unmasked")
	}

	// inbox returns the agent inbox page.
	inbox := func(t *testing.T) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.base+"/veil/agent", nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("inbox: status %d", resp.StatusCode)
		}
		return string(b)
	}
	card := luhnCard(202)
	n := len(up.received())
	if code, _ := postJSON(t, e.base+"/api/messages", `{"text":"card `+spaced(card)+`"}`); code != http.StatusOK {
		t.Fatalf("post: status %d", code)
	}
	inboxToks := revealTokens(up.waitReceived(t, n+1)[n])
	if len(inboxToks) != 1 || !strings.Contains(inbox(t), inboxToks[0]) {
		t.Fatalf("the inbox does not list the link of a new capture")
	}

	t.Run("valid config adds a rule", func(t *testing.T) {
		c := e.cfg
		c.Rules = serveTestRule
		e.writeConfig(t, c)
		if err := e.srv.reload(e.cfgPath, "test"); err != nil {
			t.Fatalf("reload: %v", err)
		}
		if got := postTicket(t, e); strings.Contains(got, ticket) {
			t.Fatalf("after the reload the new rule does not mask")
		}
		if v := metricLine(t, e, `veil_config_reloads_total{result="ok"}`); v != "1" {
			t.Errorf("reloads ok = %q, want 1", v)
		}
		if !strings.Contains(inbox(t), inboxToks[0]) {
			t.Errorf("a reload that changed only rules emptied the agent inbox")
		}
	})

	t.Run("invalid config is refused and the old rules stay", func(t *testing.T) {
		good, err := os.ReadFile(e.cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		// Line 3 gets an unknown key; the rest is the valid config.
		lines := strings.SplitAfter(string(good), "\n")
		bad := strings.Join(lines[:2], "") + "upstreem: http://nowhere.invalid\n" + strings.Join(lines[2:], "")
		if err := os.WriteFile(e.cfgPath, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		err = e.srv.reload(e.cfgPath, "test")
		if err == nil {
			t.Fatal("reload accepted a config with an unknown key")
		}
		if !strings.Contains(err.Error(), "veil.yaml:3:") {
			t.Errorf("reload error does not name veil.yaml:3")
		}
		if !regexp.MustCompile(`"level":"ERROR","msg":"config reload rejected[^"]*".*veil.yaml:3: `).MatchString(e.logs.String()) {
			t.Errorf("log has no rejected reload naming veil.yaml:3")
		}
		if v := metricLine(t, e, `veil_config_reloads_total{result="error"}`); v != "1" {
			t.Errorf("reloads error = %q, want 1", v)
		}
		if got := postTicket(t, e); strings.Contains(got, ticket) {
			t.Fatalf("after a refused reload the previous rule no longer masks")
		}
	})

	t.Run("watcher picks up a file change", func(t *testing.T) {
		e.srv.watchEvery = 10 * time.Millisecond
		stop := e.srv.watchConfig(ctx, e.cfgPath)
		defer stop()
		c := e.cfg
		c.Rules = ""             // the rule goes away again
		c.Listen = "127.0.0.1:1" // needs a restart: warned about, not applied
		e.writeConfig(t, c)
		deadline := time.Now().Add(10 * time.Second)
		for metricLine(t, e, `veil_config_reloads_total{result="ok"}`) != "2" {
			if time.Now().After(deadline) {
				t.Fatal("the watcher did not reload the changed file")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if got := postTicket(t, e); !strings.Contains(got, ticket) {
			t.Fatalf("after the watcher's reload the removed rule still masks")
		}
		if !regexp.MustCompile(`"level":"WARN","msg":"config changes that need a restart[^"]*".*"keys":\["listen"\]`).MatchString(e.logs.String()) {
			t.Errorf("no warning that the listen change needs a restart")
		}
	})

	first := func() *generation {
		e.srv.mu.Lock()
		defer e.srv.mu.Unlock()
		return e.srv.all[0]
	}()
	generations := func() int {
		e.srv.mu.Lock()
		defer e.srv.mu.Unlock()
		return len(e.srv.all)
	}
	// The first generation holds the open WebSocket; the second, idle, was
	// dropped by the third reload.
	if n := generations(); n != 2 || first.active.Load() != 1 {
		t.Errorf("%d generations kept, first with %d in flight; want 2 and 1", n, first.active.Load())
	}

	t.Run("websocket opened before the reloads still works", func(t *testing.T) {
		card := luhnCard(201)
		n := len(up.received())
		if err := ws.Write(ctx, websocket.MessageText, []byte(`{"text":"card `+spaced(card)+`"}`)); err != nil {
			t.Fatal(err)
		}
		got := up.waitReceived(t, n+1)[n]
		assertAbsent(t, "upstream WebSocket message", got, cardForms(card)...)
		toks := revealTokens(got)
		if len(toks) != 1 {
			t.Fatalf("%d reveal links, want 1", len(toks))
		}
		revealOnce(t, e.base, e.token, toks[0], spaced(card))
		if err := ws.Close(websocket.StatusNormalClosure, ""); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("closing: %v", err)
		}
	})

	// Once its WebSocket is gone, the first generation is dropped too.
	deadline := time.Now().Add(10 * time.Second)
	for e.srv.pruneGenerations(); generations() != 1; e.srv.pruneGenerations() {
		if time.Now().After(deadline) {
			t.Fatalf("%d generations kept after their streams ended, want 1", generations())
		}
		time.Sleep(5 * time.Millisecond)
	}
	assertAbsent(t, "logs", e.logs.String(), e.token)
}
