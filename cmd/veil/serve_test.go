package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// serveTestRoutes are the routes every serve test config has: a JSON chat
// API, a WebSocket chat and an OpenAI-style SSE completion.
const serveTestRoutes = `routes:
  - match: {path: /api/messages, methods: [POST]}
    body: json
  - match: {path: /ws}
    websocket: {body: json}
  - match: {path: /v1/chat/completions}
    body: json
    sse: {text: "$.choices[*].delta.content"}
`

// serveTestRule is a custom rule the reload tests add and remove.
const serveTestRule = `  rules:
    - id: acme_ticket
      type: ticket
      pattern: '\bZX-(?<v>\d{6})\b'
      keywords: [zx-]
      action: mask
      tests:
        match: ["ZX-123456"]
        no_match: ["ZX-12"]
`

// serveConfig is what a serve test config is made of.
type serveConfig struct {
	Listen, AdminListen string
	Upstream, DataDir   string
	TokenSHA            string
	Rules               string // appended under detectors:
}

func (c serveConfig) yaml() string {
	listen, admin := c.Listen, c.AdminListen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	if admin == "" {
		admin = "127.0.0.1:0"
	}
	return fmt.Sprintf(`listen: %q
admin_listen: %q
tls: {mode: "off"}
upstream: %s
data_dir: %s
public_url: http://veil.test
%sdetectors:
  actions: {card: divert}
%svault:
  key: {env: VEIL_MASTER_KEY}
agents:
  api_tokens: [{name: helpdesk-bot, sha256: %q}]
`, listen, admin, c.Upstream, c.DataDir, serveTestRoutes, c.Rules, c.TokenSHA)
}

// luhnCard returns a Luhn-valid 16-digit Visa-like number unique for n.
func luhnCard(n int) string {
	body := fmt.Sprintf("411111%09d", n)
	sum := 0
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if (len(body)-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return body + string(rune('0'+(10-sum%10)%10))
}

// spaced writes a 16-digit number in groups of four.
func spaced(card string) string {
	return card[0:4] + " " + card[4:8] + " " + card[8:12] + " " + card[12:16]
}

// randomSecret returns a new API token and its hex SHA-256.
func randomSecret(t *testing.T) (token, sum string) {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	s := sha256.Sum256([]byte(token))
	return token, hex.EncodeToString(s[:])
}

var revealLink = regexp.MustCompile(`/veil/r/([A-Za-z0-9_-]+)`)

// revealTokens returns every reveal token in s.
func revealTokens(s string) []string {
	var out []string
	for _, m := range revealLink.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// chatUpstream is a chat backend for serve tests: it records what reaches
// it, answers JSON posts, keeps WebSocket chats (answering each message
// with a card of its own) and streams completions as SSE.
type chatUpstream struct {
	*httptest.Server
	mu       sync.Mutex
	got      []string
	wsReply  string // a message the WebSocket answers with
	sseParts []string
	// sseHold, when set, keeps an SSE stream open after its parts,
	// sending a comment every few milliseconds until the client goes.
	sseHold bool
	wsOpen  chan struct{}
}

func newChatUpstream(t *testing.T) *chatUpstream {
	u := &chatUpstream{wsOpen: make(chan struct{}, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/messages", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.record(string(b))
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		u.wsOpen <- struct{}{}
		for {
			_, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			u.record(string(msg))
			if reply, _, _ := u.scripted(); reply != "" {
				if err := c.Write(r.Context(), websocket.MessageText, []byte(reply)); err != nil {
					return
				}
			}
		}
	})
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.record(string(b))
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		rc := http.NewResponseController(w)
		_, parts, hold := u.scripted()
		for _, p := range parts {
			chunk, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"index": 0, "delta": map[string]string{"content": p}}}})
			fmt.Fprintf(w, "data: %s\n\n", chunk)
			rc.Flush()
		}
		if hold {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-r.Context().Done():
					return
				case <-tick.C:
					if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
						return
					}
					rc.Flush()
				}
			}
		}
		io.WriteString(w, "data: [DONE]\n\n")
	})
	u.Server = httptest.NewServer(mux)
	t.Cleanup(u.Close)
	return u
}

// script sets what the upstream answers: the WebSocket reply, the SSE
// parts, and whether an SSE stream stays open after them.
func (u *chatUpstream) script(wsReply string, sseParts []string, sseHold bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.wsReply, u.sseParts, u.sseHold = wsReply, sseParts, sseHold
}

func (u *chatUpstream) scripted() (wsReply string, sseParts []string, sseHold bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.wsReply, u.sseParts, u.sseHold
}

func (u *chatUpstream) record(s string) {
	u.mu.Lock()
	u.got = append(u.got, s)
	u.mu.Unlock()
}

func (u *chatUpstream) received() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.got...)
}

// waitReceived polls until the upstream has received n messages.
func (u *chatUpstream) waitReceived(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := u.received()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("upstream received %d messages, want %d", len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// serveEnv is an in-process Veil started by startServer in front of a
// chatUpstream, with its logs captured.
type serveEnv struct {
	up      *chatUpstream
	srv     *server
	cfgPath string
	cfg     serveConfig
	token   string // agent API token
	logs    *syncBuffer
	base    string // http://public
	admin   string // http://admin
}

func newServeEnv(t *testing.T, up *chatUpstream) *serveEnv {
	t.Helper()
	dir := t.TempDir()
	token, sum := randomSecret(t)
	e := &serveEnv{up: up, token: token, logs: &syncBuffer{}, cfgPath: filepath.Join(dir, "veil.yaml")}
	e.cfg = serveConfig{Upstream: up.URL, DataDir: filepath.Join(dir, "data"), TokenSHA: sum}
	e.writeConfig(t, e.cfg)
	cfg, err := loadConfig(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logger, err := newLogger(logConfig{Format: "json", Level: "debug"}, e.logs, false)
	if err != nil {
		t.Fatal(err)
	}
	e.srv, err = startServer(t.Context(), cfg, serverOptions{Logger: logger, MasterKey: key, PublicListener: ln, AdminListener: adminLn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	e.base = "http://" + e.srv.PublicAddr()
	e.admin = "http://" + e.srv.AdminAddr()
	return e
}

func (e *serveEnv) writeConfig(t *testing.T, c serveConfig) {
	t.Helper()
	if err := os.WriteFile(e.cfgPath, []byte(c.yaml()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// postJSON posts body to url and returns the status and response body.
func postJSON(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// reveal makes the agent's API reveal of token against base and returns
// the status and, on success, the value.
func reveal(t *testing.T, base, apiToken, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/veil/r/"+token, nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("reveal answer %q: %v", b, err)
		}
	}
	return resp.StatusCode, out.Value
}

// revealOnce reveals token, wants want, then wants the second reveal
// refused.
func revealOnce(t *testing.T, base, apiToken, token, want string) {
	t.Helper()
	code, got := reveal(t, base, apiToken, token)
	if code != http.StatusOK || got != want {
		t.Fatalf("reveal: status %d, value match %v", code, got == want)
	}
	if code, _ := reveal(t, base, apiToken, token); code != http.StatusNotFound && code != http.StatusGone {
		t.Fatalf("second reveal: status %d, want 404 or 410", code)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// assertAbsent fails when any of secrets occurs in what.
func assertAbsent(t *testing.T, where, what string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(what, s) {
			t.Errorf("%s contains a sensitive test value (%d bytes long)", where, len(s))
		}
	}
}

// cardForms is the card as typed and as bare digits.
func cardForms(cards ...string) []string {
	var out []string
	for _, c := range cards {
		out = append(out, c, spaced(c))
	}
	return out
}

// readSSEContent reads an SSE body to its end and returns the raw text and
// the concatenated delta contents.
func readSSEContent(t *testing.T, body io.Reader) (raw, content string) {
	t.Helper()
	var rawB, text strings.Builder
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		line := sc.Text()
		rawB.WriteString(line + "\n")
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var ev struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("SSE event is not JSON: %v", err)
		}
		for _, c := range ev.Choices {
			text.WriteString(c.Delta.Content)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("SSE stream ended badly: %v", err)
	}
	return rawB.String(), text.String()
}

// TestServeEndToEnd sends cards through every kind of route of a Veil
// started by startServer, reveals each once through the agent API, and
// checks the audit chain, the metrics and the logs.
func TestServeEndToEnd(t *testing.T) {
	up := newChatUpstream(t)
	e := newServeEnv(t, up)
	ctx := t.Context()

	httpCard, wsIn, wsOut, sseIn, sseOut := luhnCard(101), luhnCard(102), luhnCard(103), luhnCard(104), luhnCard(105)
	so := spaced(sseOut)
	up.script(`{"from":"agent","text":"the card on file is `+spaced(wsOut)+`"}`,
		[]string{"Your card on file is ", so[:7], so[7:12], so[12:], ". Anything else?"}, false)
	var tokens []string

	t.Run("http", func(t *testing.T) {
		code, _ := postJSON(t, e.base+"/api/messages", `{"id":"m1","text":"my card is `+spaced(httpCard)+` thanks"}`)
		if code != http.StatusOK {
			t.Fatalf("post: status %d", code)
		}
		got := up.waitReceived(t, 1)[0]
		assertAbsent(t, "upstream body", got, cardForms(httpCard)...)
		toks := revealTokens(got)
		if len(toks) != 1 || !strings.Contains(got, "http://veil.test/veil/r/") {
			t.Fatalf("upstream body has %d reveal links, want 1 under public_url", len(toks))
		}
		tokens = append(tokens, toks...)
		revealOnce(t, e.base, e.token, toks[0], spaced(httpCard))
	})

	t.Run("websocket", func(t *testing.T) {
		n := len(up.received())
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.base, "http")+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if err := c.Write(ctx, websocket.MessageText, []byte(`{"text":"card `+spaced(wsIn)+`"}`)); err != nil {
			t.Fatal(err)
		}
		got := up.waitReceived(t, n+1)[n]
		assertAbsent(t, "upstream WebSocket message", got, cardForms(wsIn)...)
		inToks := revealTokens(got)
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, msg, err := c.Read(rctx)
		if err != nil {
			t.Fatal(err)
		}
		assertAbsent(t, "client WebSocket message", string(msg), cardForms(wsOut)...)
		outToks := revealTokens(string(msg))
		if len(inToks) != 1 || len(outToks) != 1 {
			t.Fatalf("reveal links: %d upstream-bound, %d client-bound; want 1 each", len(inToks), len(outToks))
		}
		tokens = append(tokens, inToks[0], outToks[0])
		revealOnce(t, e.base, e.token, inToks[0], spaced(wsIn))
		revealOnce(t, e.base, e.token, outToks[0], spaced(wsOut))
		c.Close(websocket.StatusNormalClosure, "")
	})

	t.Run("sse", func(t *testing.T) {
		n := len(up.received())
		code := 0
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.base+"/v1/chat/completions",
			strings.NewReader(`{"stream":true,"messages":[{"role":"user","content":"charge `+spaced(sseIn)+`"}]}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		code = resp.StatusCode
		raw, content := readSSEContent(t, resp.Body)
		if code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		got := up.waitReceived(t, n+1)[n]
		assertAbsent(t, "upstream completion request", got, cardForms(sseIn)...)
		assertAbsent(t, "client SSE stream", raw, cardForms(sseOut)...)
		if !strings.HasPrefix(content, "Your card on file is ") || !strings.HasSuffix(content, ". Anything else?") {
			t.Errorf("streamed answer lost its text around the mask")
		}
		inToks, outToks := revealTokens(got), revealTokens(content)
		if len(inToks) != 1 || len(outToks) != 1 {
			t.Fatalf("reveal links: %d upstream-bound, %d client-bound; want 1 each", len(inToks), len(outToks))
		}
		tokens = append(tokens, inToks[0], outToks[0])
		revealOnce(t, e.base, e.token, inToks[0], spaced(sseIn))
		revealOnce(t, e.base, e.token, outToks[0], so)
	})

	if t.Failed() {
		return
	}
	rows, err := e.srv.vault.VerifyAudit(ctx)
	if err != nil || rows < 10 {
		t.Fatalf("audit chain: %d rows, %v; want >= 10 rows (5 creates, 5 reveals) verified", rows, err)
	}
	metas, err := e.srv.vault.List(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range metas {
		ids = append(ids, m.RecordID)
	}
	secrets := append(cardForms(httpCard, wsIn, wsOut, sseIn, sseOut), tokens...)
	secrets = append(secrets, e.token)

	code, metricsText := httpGet(t, e.admin+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("metrics: status %d", code)
	}
	assertAbsent(t, "metrics", metricsText, append(secrets, ids...)...)
	for _, want := range []string{
		`veil_reveals_total{outcome="ok"} 5`,
		`veil_reveals_total{outcome="gone"} 5`,
		`veil_findings_total{action="divert",direction="request",route="/api/messages",type="card"} 1`,
		`veil_findings_total{action="divert",direction="response",route="/ws",type="card"} 1`,
		`veil_findings_total{action="divert",direction="response",route="/v1/chat/completions",type="card"} 1`,
	} {
		if !strings.Contains(metricsText, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Record ids are logged on purpose by vault and forms (they join a log
	// line to its audit row); values and tokens never are.
	assertAbsent(t, "logs", e.logs.String(), secrets...)
	if !strings.Contains(e.logs.String(), `"request_id"`) {
		t.Errorf("log lines carry no request_id")
	}
}

// TestServeHealthAndReadiness checks /healthz and that /readyz names the
// upstream when it is down.
func TestServeHealthAndReadiness(t *testing.T) {
	up := newChatUpstream(t)
	e := newServeEnv(t, up)
	if code, _ := httpGet(t, e.admin+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz: status %d", code)
	}
	if code, body := httpGet(t, e.admin+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz with everything up: status %d %s", code, body)
	}
	up.Close()
	code, body := httpGet(t, e.admin+"/readyz")
	var out struct {
		Status string   `json:"status"`
		Failed []string `json:"failed"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("readyz body %q: %v", body, err)
	}
	if code != http.StatusServiceUnavailable || len(out.Failed) != 1 || out.Failed[0] != "upstream" {
		t.Fatalf("readyz with the upstream down: status %d, failed %v; want 503 naming upstream", code, out.Failed)
	}
	if code, _ := httpGet(t, e.admin+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz with the upstream down: status %d", code)
	}
	// While Shutdown drains, /readyz says so first, so a load balancer
	// stops sending traffic.
	e.srv.stopping.Store(true)
	if code, body := httpGet(t, e.admin+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"failed":["shutdown"]`) {
		t.Fatalf("readyz while stopping: %d %s; want 503 naming shutdown", code, body)
	}
}
