package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

func newDemoServer(t *testing.T) (*demoChat, *httptest.Server) {
	t.Helper()
	d := newDemoChat(nil)
	d.tokenDelay = 0
	srv := httptest.NewServer(d)
	t.Cleanup(func() {
		d.Close()
		srv.Close()
	})
	return d, srv
}

func dialDemo(t *testing.T, ctx context.Context, srv *httptest.Server, role string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws?role="+role, &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": {srv.URL}},
	})
	if err != nil {
		t.Fatalf("dial %s: %v", role, err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// waitJoined returns once the hub has registered the page a: its own
// message comes back to it.
func waitJoined(t *testing.T, ctx context.Context, a *websocket.Conn, from string) {
	t.Helper()
	if err := wsjson.Write(ctx, a, demoMessage{Text: "ping from " + from}); err != nil {
		t.Fatal(err)
	}
	var m demoMessage
	if err := wsjson.Read(ctx, a, &m); err != nil {
		t.Fatal(err)
	}
	if m.Text != "ping from "+from || m.From != from {
		t.Fatalf("echo %+v", m)
	}
}

func TestDemoHubRelays(t *testing.T) {
	_, srv := newDemoServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	visitor := dialDemo(t, ctx, srv, "visitor")
	waitJoined(t, ctx, visitor, "visitor")
	agent := dialDemo(t, ctx, srv, "agent")
	waitJoined(t, ctx, agent, "agent")
	var m demoMessage // the visitor sees the agent's ping too
	if err := wsjson.Read(ctx, visitor, &m); err != nil || m.From != "agent" {
		t.Fatalf("visitor got %+v, %v", m, err)
	}

	tests := []struct {
		name     string
		sender   *websocket.Conn
		claim    string // what the client says it is
		text     string
		wantFrom string
	}{
		{"visitor to agent", visitor, "visitor", "my card is 4111 1111 1111 1111", "visitor"},
		{"agent to visitor", agent, "agent", "thanks, see https://example.com/veil/r/abc", "agent"},
		{"role comes from the connection", visitor, "agent", "pretending", "visitor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := wsjson.Write(ctx, tt.sender, demoMessage{From: tt.claim, Text: tt.text}); err != nil {
				t.Fatal(err)
			}
			for _, c := range []*websocket.Conn{visitor, agent} {
				var m demoMessage
				if err := wsjson.Read(ctx, c, &m); err != nil {
					t.Fatal(err)
				}
				if m.Text != tt.text || m.From != tt.wantFrom {
					t.Errorf("got %+v, want from %s text %q", m, tt.wantFrom, tt.text)
				}
			}
		})
	}
}

func TestDemoWSRejectsBadRole(t *testing.T) {
	_, srv := newDemoServer(t)
	resp, err := http.Get(srv.URL + "/ws?role=admin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want 400", resp.StatusCode)
	}
}

func TestDemoCloseSendsGoingAway(t *testing.T) {
	d, srv := newDemoServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c := dialDemo(t, ctx, srv, "agent")
	waitJoined(t, ctx, c, "agent")
	closed := make(chan struct{})
	start := time.Now()
	go func() {
		d.Close()
		close(closed)
	}()
	_, _, err := c.Read(ctx)
	if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
		t.Errorf("close status %v (%v), want 1001", got, err)
	}
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatal("Close did not return")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v: the close handshake did not complete", d)
	}
}

// readSSE returns the data fields of every event in body.
func readSSE(t *testing.T, body io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		line := sc.Text()
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			out = append(out, d)
		} else if line != "" {
			t.Errorf("unexpected SSE line %q", line)
		}
	}
	return out
}

func TestDemoBotStreams(t *testing.T) {
	_, srv := newDemoServer(t)
	tests := []struct {
		name, prompt, want string
	}{
		{"card on file", "What is the Card on file for me?", demoCardAnswer},
		{"anything else", "hello", demoDefaultAnswer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqBody, _ := json.Marshal(map[string]any{
				"model": "gpt-x", "stream": true,
				"messages": []map[string]string{{"role": "system", "content": "card on file"}, {"role": "user", "content": tt.prompt}},
			})
			if tt.want == demoDefaultAnswer {
				// The system message mentions the card: only the user's words count.
				reqBody = []byte(strings.Replace(string(reqBody), `"system","content":"card on file"`, `"system","content":"be nice"`, 1))
			}
			resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(string(reqBody)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Fatalf("content type %q", ct)
			}
			events := readSSE(t, resp.Body)
			if len(events) < 3 || events[len(events)-1] != "[DONE]" {
				t.Fatalf("events %q do not end in [DONE]", events)
			}
			var text strings.Builder
			contentEvents := 0
			for i, e := range events[:len(events)-1] {
				var c chatChunk
				if err := json.Unmarshal([]byte(e), &c); err != nil {
					t.Fatalf("event %d %q: %v", i, e, err)
				}
				if c.Object != "chat.completion.chunk" || len(c.Choices) != 1 || c.ID == "" {
					t.Fatalf("event %d not a chunk: %s", i, e)
				}
				last := i == len(events)-2
				if fr := c.Choices[0].FinishReason; (fr != nil) != last || (last && *fr != "stop") {
					t.Errorf("event %d finish_reason %v", i, fr)
				}
				if c.Choices[0].Delta.Content != "" {
					contentEvents++
				}
				text.WriteString(c.Choices[0].Delta.Content)
			}
			if text.String() != tt.want {
				t.Errorf("concatenated deltas %q, want %q", text.String(), tt.want)
			}
			if tt.want == demoCardAnswer {
				for _, e := range events {
					if strings.Contains(e, "4242 4242") {
						t.Errorf("card number not split across events: %s", e)
					}
				}
				if contentEvents < 10 {
					t.Errorf("only %d content events", contentEvents)
				}
			}
		})
	}
}

func TestDemoBotNonStreaming(t *testing.T) {
	_, srv := newDemoServer(t)
	resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"messages":[{"role":"user","content":"card on file?"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if len(out.Choices) != 1 || out.Choices[0].Message.Content != demoCardAnswer {
		t.Errorf("got %+v", out)
	}

	bad, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader("{"))
	if err != nil {
		t.Fatal(err)
	}
	bad.Body.Close()
	if bad.StatusCode != http.StatusBadRequest {
		t.Errorf("malformed request: status %d", bad.StatusCode)
	}
}

var scriptTag = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)

func TestDemoPages(t *testing.T) {
	_, srv := newDemoServer(t)
	tests := []struct {
		path, contains, ctype string
	}{
		{"/", `href="/visitor"`, "text/html"},
		{"/visitor", `data-role="visitor"`, "text/html"},
		{"/agent", `data-role="agent"`, "text/html"},
		{"/assets/chat.js", "textContent", "javascript"},
		{"/assets/chat.css", "font-family", "text/css"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body := string(b)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, tt.contains) {
				t.Fatalf("%d, body lacks %q", resp.StatusCode, tt.contains)
			}
			if !strings.Contains(resp.Header.Get("Content-Type"), tt.ctype) {
				t.Errorf("content type %q", resp.Header.Get("Content-Type"))
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("CSP %q", csp)
			}
			for _, m := range scriptTag.FindAllStringSubmatch(body, -1) {
				if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
					t.Errorf("inline script in %s: %s", tt.path, m[0])
				}
			}
			if strings.Contains(body, "innerHTML") || strings.Contains(body, "insertAdjacentHTML") || strings.Contains(body, "document.write") {
				t.Errorf("%s builds HTML from strings", tt.path)
			}
			if strings.Contains(body, " style=") || strings.Contains(body, " on") && regexp.MustCompile(`\son[a-z]+=`).MatchString(body) {
				t.Errorf("%s has inline style or event handler attributes", tt.path)
			}
		})
	}
}

// FuzzDemoCompletions sends arbitrary bodies to the bot: it answers 200 or
// 400 and never panics.
func FuzzDemoCompletions(f *testing.F) {
	for _, s := range []string{
		`{"stream":true,"messages":[{"role":"user","content":"card on file"}]}`,
		`{"messages":[]}`, `{`, `null`, `[]`, `{"messages":[{"role":"user","content":1}]}`,
	} {
		f.Add(s)
	}
	d := newDemoChat(nil)
	d.tokenDelay = 0
	f.Fuzz(func(t *testing.T, body string) {
		w := httptest.NewRecorder()
		d.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body)))
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Fatalf("status %d for %q", w.Code, body)
		}
	})
}
