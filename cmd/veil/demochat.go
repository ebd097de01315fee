package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// demoAssets are the demo chat's pages, script and style sheet.
//
//go:embed demoassets
var demoAssets embed.FS

const (
	// demoMaxText bounds one chat message.
	demoMaxText = 4096
	// demoSendQueue is how many messages may wait for a slow page before
	// it is disconnected.
	demoSendQueue = 64
	// demoTokenDelay paces the bot's streamed answer like a model would.
	demoTokenDelay = 40 * time.Millisecond
	// demoCardAnswer is what the bot says when asked about the card on file.
	demoCardAnswer = "The card on file is 4242 4242 4242 4242, expiring 12/29."
	// demoDefaultAnswer is the bot's answer to anything else.
	demoDefaultAnswer = "Hello! I am the demo assistant. Ask me about the card on file and watch Veil mask my streamed answer before it reaches you."
	// demoCSP allows only the demo's own script, style and WebSocket.
	demoCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

// demoMessage is one chat message on the WebSocket.
type demoMessage struct {
	From string `json:"from"` // visitor | agent
	Text string `json:"text"`
}

// demoChat is the small chat backend `veil demo` puts behind Veil: a
// visitor page and an agent page relaying messages over WebSocket through a
// hub, and an OpenAI-compatible bot streaming its answers over SSE.
type demoChat struct {
	logger *slog.Logger
	mux    *http.ServeMux
	// tokenDelay paces the bot; 0 streams as fast as the client reads.
	tokenDelay time.Duration

	mu      sync.Mutex
	clients map[*demoClient]struct{}
	closed  bool
}

type demoClient struct {
	role string
	send chan demoMessage
	conn *websocket.Conn
}

// newDemoChat returns the demo backend with its routes: GET / (landing
// page), GET /visitor and /agent (chat pages), GET /assets/ (script and
// style), /ws?role=visitor|agent (WebSocket) and POST /v1/chat/completions
// (the bot).
func newDemoChat(logger *slog.Logger) *demoChat {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &demoChat{logger: logger, tokenDelay: demoTokenDelay, clients: map[*demoClient]struct{}{}}
	assets, err := fs.Sub(demoAssets, "demoassets")
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	mux := http.NewServeMux()
	page := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			body, err := fs.ReadFile(assets, name)
			if err != nil {
				http.Error(w, "not found", http.StatusNotFound)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write(body)
		}
	}
	mux.HandleFunc("GET /{$}", page("index.html"))
	mux.HandleFunc("GET /visitor", page("visitor.html"))
	mux.HandleFunc("GET /agent", page("agent.html"))
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(assets)))
	mux.HandleFunc("GET /ws", d.serveWS)
	mux.HandleFunc("POST /v1/chat/completions", d.serveCompletions)
	d.mux = mux
	return d
}

// ServeHTTP serves the demo backend with headers that forbid inline script.
func (d *demoChat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", demoCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	d.mux.ServeHTTP(w, r)
}

// Close disconnects every page with 1001 (going away) and returns when
// their close handshakes are done (at most a few seconds).
func (d *demoChat) Close() {
	d.mu.Lock()
	d.closed = true
	clients := make([]*demoClient, 0, len(d.clients))
	for c := range d.clients {
		clients = append(clients, c)
	}
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { _ = c.conn.Close(websocket.StatusGoingAway, "demo stopping") })
	}
	wg.Wait()
}

func (d *demoChat) serveWS(w http.ResponseWriter, r *http.Request) {
	role := r.URL.Query().Get("role")
	if role != "visitor" && role != "agent" {
		http.Error(w, "role must be visitor or agent", http.StatusBadRequest)
		return
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// The demo runs on loopback; the proxy in front forwards the
		// browser's Origin while the Host becomes the backend's.
		OriginPatterns: []string{"localhost:*", "127.0.0.1:*", "[::1]:*"},
	})
	if err != nil {
		return // Accept has answered the client
	}
	conn.SetReadLimit(2 * demoMaxText)
	c := &demoClient{role: role, send: make(chan demoMessage, demoSendQueue), conn: conn}
	if !d.join(c) {
		_ = conn.Close(websocket.StatusGoingAway, "demo stopping")
		return
	}
	defer d.leave(c)
	d.logger.DebugContext(r.Context(), "demo chat page connected", "role", role)

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go d.writeLoop(ctx, cancel, c)
	for {
		var m demoMessage
		if err := wsjson.Read(ctx, conn, &m); err != nil {
			var ce websocket.CloseError
			if !errors.As(err, &ce) && ctx.Err() == nil {
				_ = conn.Close(websocket.StatusUnsupportedData, "messages are JSON {\"text\": ...}")
			}
			return
		}
		text := strings.TrimSpace(m.Text)
		if text == "" || len(text) > demoMaxText {
			continue
		}
		d.broadcast(demoMessage{From: role, Text: text})
	}
}

// writeLoop sends queued messages to one page until ctx ends.
func (d *demoChat) writeLoop(ctx context.Context, cancel context.CancelFunc, c *demoClient) {
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-c.send:
			wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
			err := wsjson.Write(wctx, c.conn, m)
			wcancel()
			if err != nil {
				return
			}
		}
	}
}

func (d *demoChat) join(c *demoClient) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.clients[c] = struct{}{}
	return true
}

func (d *demoChat) leave(c *demoClient) {
	d.mu.Lock()
	delete(d.clients, c)
	d.mu.Unlock()
	_ = c.conn.CloseNow()
}

// broadcast queues m for every connected page, the sender included, so each
// page shows the conversation as the hub saw it. A page too slow to keep up
// is disconnected.
func (d *demoChat) broadcast(m demoMessage) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for c := range d.clients {
		select {
		case c.send <- m:
		default:
			delete(d.clients, c)
			go func() { _ = c.conn.Close(websocket.StatusPolicyViolation, "too slow") }()
		}
	}
}

// chatRequest is the part of an OpenAI chat completion request the bot
// reads.
type chatRequest struct {
	Model    string `json:"model"`
	Stream   bool   `json:"stream"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
}

// chatChunk is one streamed chat.completion.chunk.
type chatChunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []chunkChoice `json:"choices"`
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	FinishReason *string    `json:"finish_reason"`
}

type chunkDelta struct {
	Role    string `json:"role,omitempty"`
	Content string `json:"content,omitempty"`
}

// demoAnswer is the bot's answer to prompt.
func demoAnswer(prompt string) string {
	if strings.Contains(strings.ToLower(prompt), "card on file") {
		return demoCardAnswer
	}
	return demoDefaultAnswer
}

// demoTokens cuts an answer into short pieces, as a model streams tokens:
// words and spaces in pieces of at most three characters, so a card number
// arrives spread over many events.
func demoTokens(answer string) []string {
	var out []string
	runes := []rune(answer)
	for i := 0; i < len(runes); i += 3 {
		out = append(out, string(runes[i:min(i+3, len(runes))]))
	}
	return out
}

func (d *demoChat) serveCompletions(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	if err := dec.Decode(&req); err != nil {
		writeJSONError(w, http.StatusBadRequest, "request body must be a chat completion request")
		return
	}
	prompt := ""
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			prompt = req.Messages[i].Content
			break
		}
	}
	answer := demoAnswer(prompt)
	model := "veil-demo"
	created := time.Now().Unix()
	const id = "chatcmpl-veil-demo"
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": model,
			"choices": []any{map[string]any{
				"index": 0, "finish_reason": "stop",
				"message": map[string]string{"role": "assistant", "content": answer},
			}},
		})
		return
	}

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(c chatChunk) error {
		b, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return err
		}
		return rc.Flush()
	}
	chunk := func(delta chunkDelta, finish *string) chatChunk {
		return chatChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: model,
			Choices: []chunkChoice{{Delta: delta, FinishReason: finish}}}
	}
	var tick <-chan time.Time
	if d.tokenDelay > 0 {
		t := time.NewTicker(d.tokenDelay)
		defer t.Stop()
		tick = t.C
	}
	if err := send(chunk(chunkDelta{Role: "assistant"}, nil)); err != nil {
		return
	}
	for _, tok := range demoTokens(answer) {
		if tick != nil {
			select {
			case <-tick:
			case <-r.Context().Done():
				return
			}
		}
		if err := send(chunk(chunkDelta{Content: tok}, nil)); err != nil {
			return
		}
	}
	stop := "stop"
	if err := send(chunk(chunkDelta{}, &stop)); err != nil {
		return
	}
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}

// writeJSONError answers with {"error": {"message": msg}} like the API the
// bot imitates.
func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"message": msg}})
}
