package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

const (
	demoTestCard       = "4111 1111 1111 1111"
	demoTestCardDigits = "4111111111111111"
	// demoBotCard is the number the demo bot streams for "my card on file".
	demoBotCard       = "4242 4242 4242 4242"
	demoBotCardDigits = "4242424242424242"
)

// startTestDemo starts the demo on a free loopback port and returns it with
// what it printed; the demo is closed when t ends.
func startTestDemo(t *testing.T) (d *demo, out, errOut *syncBuffer) {
	t.Helper()
	out, errOut = &syncBuffer{}, &syncBuffer{}
	d, err := startDemo(t.Context(), "127.0.0.1:0", stdio{In: strings.NewReader(""), Out: out, Err: errOut, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatalf("startDemo: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("closing the demo: %v", err)
		}
	})
	return d, out, errOut
}

// dialDemoPage connects to the demo chat through Veil as a browser page of
// role would.
func dialDemoPage(t *testing.T, ctx context.Context, d *demo, role string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(d.URL, "http")+"/ws?role="+role, &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": {d.URL}},
	})
	if err != nil {
		t.Fatalf("dialling the demo chat as %s: %v", role, err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// readUntil reads messages on c until one from the given sender satisfies
// ok, and returns it.
func readUntil(t *testing.T, ctx context.Context, c *websocket.Conn, from string, ok func(string) bool) string {
	t.Helper()
	for {
		var m demoMessage
		if err := wsjson.Read(ctx, c, &m); err != nil {
			t.Fatalf("waiting for a message from the %s: %v", from, err)
		}
		if m.From == from && ok(m.Text) {
			return m.Text
		}
	}
}

// joinDemoChat connects a visitor and an agent page and returns once the
// hub relays between them.
func joinDemoChat(t *testing.T, ctx context.Context, d *demo) (visitor, agentPage *websocket.Conn) {
	t.Helper()
	// A page has joined the hub once its own message comes back to it: the
	// backend reads a page's messages only after it has joined.
	agentPage = dialDemoPage(t, ctx, d, "agent")
	if err := wsjson.Write(ctx, agentPage, demoMessage{Text: "how can I help?"}); err != nil {
		t.Fatal(err)
	}
	readUntil(t, ctx, agentPage, "agent", func(s string) bool { return s == "how can I help?" })
	visitor = dialDemoPage(t, ctx, d, "visitor")
	if err := wsjson.Write(ctx, visitor, demoMessage{Text: "hello"}); err != nil {
		t.Fatal(err)
	}
	readUntil(t, ctx, agentPage, "visitor", func(s string) bool { return s == "hello" })
	readUntil(t, ctx, visitor, "visitor", func(s string) bool { return s == "hello" })
	return visitor, agentPage
}

var (
	revealLinkPattern = regexp.MustCompile(`https?://[^\s\]]+/veil/r/[A-Za-z0-9_-]+`)
	fillLinkPattern   = regexp.MustCompile(`https?://[^\s\]]+/veil/f/[A-Za-z0-9_-]+`)
)

func TestDemoPrintsWhereToGo(t *testing.T) {
	d, out, _ := startTestDemo(t)
	text := out.String()
	words := map[string]bool{}
	for _, w := range strings.Fields(text) {
		words[w] = true
	}
	for _, url := range []string{d.URL + "/", d.URL + "/visitor", d.URL + "/agent", d.URL + "/veil/agent", d.URL + "/veil/api/forms/payment/links"} {
		if !words[url] {
			t.Errorf("the demo's greeting does not name %s:\n%s", url, text)
		}
	}
	for _, want := range []string{"ephemeral", "erases it when it stops", d.dir, d.Token, "Ctrl+C"} {
		if !strings.Contains(text, want) {
			t.Errorf("the demo's greeting lacks %q:\n%s", want, text)
		}
	}
	if strings.Count(text, d.Token) != 1 {
		t.Errorf("the agent token is printed %d times, want once", strings.Count(text, d.Token))
	}
	if _, err := os.Stat(d.dir); err != nil {
		t.Errorf("the vault folder: %v", err)
	}
}

func TestDemoVisitorCardReachesAgentMasked(t *testing.T) {
	d, _, errOut := startTestDemo(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	visitor, agentPage := joinDemoChat(t, ctx, d)

	if err := wsjson.Write(ctx, visitor, demoMessage{Text: "my card is " + demoTestCard + " thanks"}); err != nil {
		t.Fatal(err)
	}
	got := readUntil(t, ctx, agentPage, "visitor", func(s string) bool { return strings.HasPrefix(s, "my card is") })
	if strings.Contains(got, demoTestCard) || strings.Contains(got, demoTestCardDigits) {
		t.Fatalf("the agent received the card number in the clear: %q", got)
	}
	if !strings.Contains(got, "card ending 1111") {
		t.Errorf("the agent's message %q has no masked preview", got)
	}
	link := revealLinkPattern.FindString(got)
	if !strings.HasPrefix(link, d.URL+"/veil/r/") {
		t.Fatalf("the agent's message %q has no reveal link on %s", got, d.URL)
	}
	// The visitor's own page shows the conversation as the backend saw it.
	echo := readUntil(t, ctx, visitor, "visitor", func(s string) bool { return strings.HasPrefix(s, "my card is") })
	if echo != got {
		t.Errorf("the visitor's echo %q differs from the agent's copy %q", echo, got)
	}

	// Opening the link shows a button and reveals nothing.
	res, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "<button") {
		t.Errorf("GET of the reveal link: %d %s", res.StatusCode, body)
	}
	if strings.Contains(string(body), demoTestCardDigits) || strings.Contains(string(body), demoTestCard) {
		t.Error("GET of the reveal link shows the card number")
	}

	// The agent sends a secure form; the visitor gets an invitation with a
	// fill link.
	if err := wsjson.Write(ctx, agentPage, demoMessage{Text: "/secure payment"}); err != nil {
		t.Fatal(err)
	}
	inv := readUntil(t, ctx, visitor, "agent", func(string) bool { return true })
	fill := fillLinkPattern.FindString(inv)
	if !strings.HasPrefix(fill, d.URL+"/veil/f/") || strings.Contains(inv, "/secure payment") {
		t.Fatalf("the visitor got %q, want an invitation with a fill link", inv)
	}
	res, err = http.Get(fill)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `name="card_number"`) {
		t.Errorf("GET of the fill link: %d %s", res.StatusCode, body)
	}

	if logs := errOut.String(); strings.Contains(logs, demoTestCardDigits) || strings.Contains(logs, demoTestCard) ||
		strings.Contains(logs, strings.TrimPrefix(link, d.URL+"/veil/r/")) {
		t.Errorf("the demo's log holds the card number or a token:\n%s", logs)
	}
}

func TestDemoBotAnswerArrivesMasked(t *testing.T) {
	d, _, _ := startTestDemo(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"veil-demo","stream":true,"messages":[{"role":"user","content":"What is my card on file?"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q", ct)
	}
	var raw, answer strings.Builder
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		raw.WriteString(line + "\n")
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var chunk chatChunk
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		for _, c := range chunk.Choices {
			answer.WriteString(c.Delta.Content)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw.String(), demoBotCardDigits) || strings.Contains(answer.String(), demoBotCard) {
		t.Fatalf("the bot's card number reached the client: %q", answer.String())
	}
	if !strings.Contains(answer.String(), "card ending 4242") || !strings.HasSuffix(answer.String(), "expiring **/**.") {
		t.Errorf("answer %q: want the masked card and the rest of the sentence", answer.String())
	}
}

func TestDemoCloseErasesTheVault(t *testing.T) {
	d, _, _ := startTestDemo(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	visitor, agentPage := joinDemoChat(t, ctx, d)
	if err := wsjson.Write(ctx, visitor, demoMessage{Text: "card " + demoTestCard}); err != nil {
		t.Fatal(err)
	}
	readUntil(t, ctx, visitor, "visitor", func(s string) bool { return strings.HasPrefix(s, "card ") })
	if entries, err := os.ReadDir(d.dir); err != nil || len(entries) == 0 {
		t.Fatalf("the vault folder before Close: %v entries, %v", len(entries), err)
	}
	// Pages still connected read on, as a browser does, and are told the
	// demo went away.
	ended := make(chan error, 2)
	for _, c := range []*websocket.Conn{visitor, agentPage} {
		go func() {
			for {
				var m demoMessage
				if err := wsjson.Read(ctx, c, &m); err != nil {
					ended <- err
					return
				}
			}
		}()
	}
	start := time.Now()
	if err := d.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Logf("Close took %v", time.Since(start))
	if _, err := os.Stat(d.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the vault folder %s is still there after Close (%v)", d.dir, err)
	}
	for range 2 {
		err := <-ended
		if s := websocket.CloseStatus(err); s != websocket.StatusGoingAway {
			t.Errorf("a page's connection ended with %v (status %d), want 1001", err, s)
		}
	}
	if _, err := http.Get(d.URL + "/visitor"); err == nil {
		t.Error("the demo still answers after Close")
	}
}

func TestDemoSignOnOnlyOnAgentPaths(t *testing.T) {
	var seen string
	h := demoSignOn(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Get(demoIdentityHeader)
	}))
	tests := []struct {
		path string
		want string
	}{
		{"/agent", demoAgent},
		{"/veil/agent", demoAgent},
		{"/veil/r/abc", demoAgent},
		{"/veil/api/forms/payment/links", demoAgent},
		{"/visitor", ""},
		{"/ws", ""},
		{"/veil/f/abc", ""},
		{"/v1/chat/completions", ""},
		{"/agents", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			seen = "unset"
			r, err := http.NewRequest(http.MethodGet, "http://127.0.0.1"+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			// A visitor page trying to claim an identity is ignored.
			r.Header.Set(demoIdentityHeader, "someone-else")
			h.ServeHTTP(nil, r)
			if seen != tt.want {
				t.Errorf("identity %q, want %q", seen, tt.want)
			}
		})
	}
}

// signalWriter closes seen once what was written contains marker.
type signalWriter struct {
	syncBuffer
	marker string
	seen   chan struct{}
	once   sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	n, err := w.syncBuffer.Write(p)
	if strings.Contains(w.String(), w.marker) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

// TestDemoCommandStopsCleanly runs `veil demo` as main does and stops it the
// way Ctrl+C does, by cancelling its context.
func TestDemoCommandStopsCleanly(t *testing.T) {
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	out := &signalWriter{marker: "Press Ctrl+C", seen: make(chan struct{})}
	var errOut syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"demo", "--listen", "127.0.0.1:0"}, stdio{In: strings.NewReader(""), Out: out, Err: &errOut, Getenv: func(string) string { return "" }})
	}()
	select {
	case <-out.seen:
	case c := <-code:
		t.Fatalf("veil demo exited with %d before starting: %s", c, errOut.String())
	}
	dir := regexp.MustCompile(`The vault is in (\S+),`).FindStringSubmatch(out.String())
	if dir == nil {
		t.Fatalf("the greeting names no vault folder:\n%s", out.String())
	}
	if _, err := os.Stat(dir[1]); err != nil {
		t.Fatalf("the vault folder: %v", err)
	}
	stop()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("veil demo exited with %d after Ctrl+C: %s", c, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("veil demo did not stop within 20s of Ctrl+C")
	}
	if !strings.HasSuffix(out.String(), "Stopped.\n") {
		t.Errorf("the demo's last words: %q", out.String()[max(0, len(out.String())-80):])
	}
	if _, err := os.Stat(dir[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the vault folder %s survived the demo (%v)", dir[1], err)
	}
	if e := errOut.String(); e != "" {
		t.Errorf("the demo wrote to stderr: %s", e)
	}
}

func TestDemoRefuses(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"all interfaces", []string{"demo", "--listen", ":8480"}, "loopback only"},
		{"a public address", []string{"demo", "--listen", "0.0.0.0:8480"}, "loopback only"},
		{"no port", []string{"demo", "--listen", "127.0.0.1"}, "want host:port"},
		{"an argument", []string{"demo", "now"}, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runVeil(t, "", tt.args...)
			if r.code == 0 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want a failure saying %q", r.code, r.stderr, tt.want)
			}
		})
	}
}

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		listen string
		ok     bool
	}{
		{"127.0.0.1:8480", true},
		{"127.0.0.1:0", true},
		{"[::1]:8480", true},
		{"localhost:8480", true},
		{":8480", false},
		{"0.0.0.0:8480", false},
		{"192.0.2.1:8480", false},
		{"example.com:8480", false},
		{"8480", false},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			if err := checkLoopback(tt.listen); (err == nil) != tt.ok {
				t.Errorf("checkLoopback(%q) = %v, want ok %v", tt.listen, err, tt.ok)
			}
		})
	}
}

func TestDemoScanMode(t *testing.T) {
	r := runVeil(t, "my card is "+demoFormCard+"\nsee you at 10:30\n", "demo", "--scan")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, demoFormCard) {
		t.Errorf("the scanner printed the card number:\n%s", r.stdout)
	}
	for _, want := range []string{"4444 card rule card_pan", "nothing found", "see you at 10:30"} {
		if !strings.Contains(strings.Join(strings.Fields(r.stdout), " "), want) {
			t.Errorf("the scanner's output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestDemoPagesPassAsWritten checks that the demo chat's own pages reach the
// browser unscanned: the home page's example card number is shown as
// written and leaves nothing in the vault.
func TestDemoPagesPassAsWritten(t *testing.T) {
	d, _, _ := startTestDemo(t)
	get := func(path string) string {
		t.Helper()
		res, err := http.Get(d.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, res.StatusCode, err)
		}
		return string(body)
	}
	for _, path := range []string{"/", "/visitor", "/agent", "/assets/chat.js", "/assets/chat.css"} {
		get(path)
	}
	if home := get("/"); !strings.Contains(home, demoTestCard) || strings.Contains(home, "/veil/r/") {
		t.Errorf("the home page does not show the example card number as written:\n%s", home)
	}
	records, err := d.srv.vault.List(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 0 {
		t.Errorf("viewing the demo's pages left %d records in the vault", len(records))
	}
}
