package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
)

func TestNewLogger(t *testing.T) {
	tests := []struct {
		name     string
		cfg      logConfig
		terminal bool
		wantJSON bool
		wantErr  bool
		debug    bool
	}{
		{"default is json", logConfig{}, false, true, false, false},
		{"terminal is text", logConfig{}, true, false, false, false},
		{"explicit json on a terminal", logConfig{Format: "json"}, true, true, false, false},
		{"explicit text", logConfig{Format: "text"}, false, false, false, false},
		{"debug level", logConfig{Level: "debug"}, false, true, false, true},
		{"bad format", logConfig{Format: "xml"}, false, false, true, false},
		{"bad level", logConfig{Level: "loud"}, false, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := newLogger(tt.cfg, &buf, tt.terminal)
			if tt.wantErr {
				if !errors.Is(err, errLogConfig) {
					t.Fatalf("err = %v, want errLogConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l.Debug("dbg")
			l.Info("hello", "k", "v")
			out := buf.String()
			if isJSON := strings.HasPrefix(out, "{"); isJSON != tt.wantJSON {
				t.Errorf("output %q, want JSON %v", out, tt.wantJSON)
			}
			if strings.Contains(out, "dbg") != tt.debug {
				t.Errorf("debug line present = %v, want %v", !tt.debug, tt.debug)
			}
		})
	}
}

// logLines decodes JSON log lines.
func logLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestWithRequestID(t *testing.T) {
	const secretQuery = "4111111111111111"
	const secretBody = "ssn 123-45-6789"
	const secretHeader = "Bearer s3cr3t-t0ken"

	var logs syncBuffer
	logger, err := newLogger(logConfig{}, &logs, false)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	var seenUpstreamID string
	mux.HandleFunc("POST /api/messages/{id}", func(w http.ResponseWriter, r *http.Request) {
		seenUpstreamID = r.Header.Get("X-Request-Id")
		logger.InfoContext(r.Context(), "handling message")
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte("12345"))
	})
	mux.HandleFunc("GET /labelled", func(w http.ResponseWriter, r *http.Request) {
		setRouteLabel(r.Context(), "/custom")
	})
	srv := httptest.NewServer(withRequestID(mux, logger))
	defer srv.Close()

	tests := []struct {
		name, method, path, inID string
		wantRoute                string
		wantStatus               int
		wantBytes                float64
		keepsID                  bool
	}{
		{"mux pattern, new id", http.MethodPost, "/api/messages/98765?card=" + secretQuery, "", "POST /api/messages/{id}", 202, 5, false},
		{"inbound id kept", http.MethodPost, "/api/messages/1", "abc-123_x.y", "POST /api/messages/{id}", 202, 5, true},
		{"malformed id replaced", http.MethodPost, "/api/messages/1", "bad id <script>", "POST /api/messages/{id}", 202, 5, false},
		{"label set by handler", http.MethodGet, "/labelled", "", "/custom", 200, 0, false},
		{"no route", http.MethodGet, "/nowhere/555", "", "unmatched", 404, -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(logs.String())
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(secretBody))
			req.Header.Set("Authorization", secretHeader)
			if tt.inID != "" {
				req.Header.Set("X-Request-Id", tt.inID)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			id := resp.Header.Get("X-Request-Id")
			if !validRequestID(id) {
				t.Fatalf("response id %q", id)
			}
			if tt.keepsID != (id == tt.inID) {
				t.Errorf("response id %q, inbound %q, want kept %v", id, tt.inID, tt.keepsID)
			}
			if tt.method == http.MethodPost && seenUpstreamID != id {
				t.Errorf("handler saw id %q, response has %q", seenUpstreamID, id)
			}

			out := logs.String()[before:]
			for _, s := range []string{secretQuery, secretBody, "123-45-6789", secretHeader, "s3cr3t", "98765", "nowhere"} {
				if strings.Contains(out, s) {
					t.Errorf("log contains %q:\n%s", s, out)
				}
			}
			lines := logLines(t, out)
			var access map[string]any
			for _, l := range lines {
				if l["request_id"] != id {
					t.Errorf("line without the request id: %v", l)
				}
				if l["msg"] == "request" {
					access = l
				}
			}
			if access == nil {
				t.Fatalf("no access line in %s", out)
			}
			if access["route"] != tt.wantRoute || access["status"] != float64(tt.wantStatus) || access["method"] != tt.method {
				t.Errorf("access line %v", access)
			}
			if tt.wantBytes >= 0 && access["bytes"] != tt.wantBytes {
				t.Errorf("bytes %v, want %v", access["bytes"], tt.wantBytes)
			}
			if _, ok := access["duration"]; !ok {
				t.Error("no duration")
			}
		})
	}
}

func TestStatusRecorderPassesFlushAndHijack(t *testing.T) {
	h := withRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/flush" {
			_, _ = w.Write([]byte("x"))
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("flush: %v", err)
			}
			return
		}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		_, _ = conn.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nConnection: close\r\n\r\n"))
		conn.Close()
	}), slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, p := range []string{"/flush", "/hijack"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		resp.Body.Close()
	}
}

func TestZapBridge(t *testing.T) {
	var buf bytes.Buffer
	l := zap.New(newSlogCore(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))).Named("obtain")
	l.Debug("hidden")
	l.With(zap.String("identifier", "veil.test")).Info("certificate obtained", zap.Int("attempt", 1))
	lines := logLines(t, buf.String())
	if len(lines) != 1 {
		t.Fatalf("want 1 line, got %s", buf.String())
	}
	got := lines[0]
	if got["msg"] != "certificate obtained" || got["identifier"] != "veil.test" || got["attempt"] != float64(1) || got["logger"] != "obtain" {
		t.Errorf("bridged line %v", got)
	}
}

// FuzzRequestID checks that an inbound id is kept only when it is made of
// identifier characters, and that a replacement is always well formed.
func FuzzRequestID(f *testing.F) {
	for _, s := range []string{"abc-123", "", "a b", "<script>", strings.Repeat("x", 65), "id\r\nX-Evil: 1"} {
		f.Add(s)
	}
	h := withRequestID(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), slog.New(slog.DiscardHandler))
	f.Fuzz(func(t *testing.T, in string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header["X-Request-Id"] = []string{in}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got := w.Header().Get("X-Request-Id")
		if !validRequestID(got) {
			t.Fatalf("response id %q for inbound %q", got, in)
		}
		if got == in && strings.ContainsFunc(in, func(c rune) bool {
			return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.')
		}) {
			t.Fatalf("kept unsafe id %q", in)
		}
	})
}
