package proxy

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/veilproxy/veil/detectors"
)

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"1048576", 1048576, true},
		{"10MB", 10_000_000, true},
		{"64KiB", 65536, true},
		{"64 kib", 65536, true},
		{"1.5MiB", 1572864, true},
		{"2GiB", 2 << 30, true},
		{"12b", 12, true},
		{"10 parsecs", 0, false},
		{"MB", 0, false},
		{"0.5B", 0, false},
		{"-1", 0, false},
		{"99999999999GiB", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var v struct {
				Size ByteSize `yaml:"size"`
			}
			err := yaml.Unmarshal([]byte("size: "+tt.in), &v)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if tt.ok && v.Size != tt.want {
				t.Errorf("size = %d, want %d", v.Size, tt.want)
			}
			if !tt.ok && !strings.Contains(err.Error(), "line 1") {
				t.Errorf("error %q has no line", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	pos := detectors.Pos{File: "veil.yaml", Line: 10, Keys: map[string]int{"match": 11, "body": 12, "skip": 13, "sse": 14, "upstream": 15, "files": 16}}
	cfg := Config{
		Upstream: "ftp://x",
		Routes: []Route{
			{Pos: pos, Match: Match{Path: "api/*x", Methods: []string{"PO ST"}}, Body: "xml", Skip: []string{"$..a"},
				SSE: &SSERoute{Text: "$["}, Upstream: "http://", Files: "maybe"},
			{Match: Match{Path: "/ok"}, Body: "json", WebSocket: &WebSocketRoute{Body: "bin"}},
		},
		Limits: Limits{MaxBody: -1},
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate accepted a broken config")
	}
	msgs := strings.Split(err.Error(), "\n")
	want := []string{
		"upstream: scheme",
		`veil.yaml:11: route "api/*x": match: path`,
		`veil.yaml:11: route "api/*x": match: method`,
		`veil.yaml:12: route "api/*x": body:`,
		`veil.yaml:16: route "api/*x": files:`,
		`veil.yaml:13: route "api/*x": skip:`,
		`veil.yaml:14: route "api/*x": sse: text:`,
		`veil.yaml:15: route "api/*x": upstream:`,
		`route "/ok": websocket: body:`,
		"limits: max_body:",
	}
	if len(msgs) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(msgs), len(want), err)
	}
	for _, w := range want {
		found := false
		for _, m := range msgs {
			if strings.HasPrefix(m, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem starting %q in:\n%s", w, err)
		}
	}
	if _, err := New(cfg, Options{Engine: httpEngine(t, detectors.Config{})}); err == nil {
		t.Error("New accepted a broken config")
	}
}

func TestValidateDocumentedShape(t *testing.T) {
	src := `
upstream: "http://127.0.0.1:9000"
routes:
  - match: {path: /api/messages, methods: [POST]}
    body: json
    skip: [$.id, $.author.id]
    strict: [$.typing_preview]
  - match: {path: /ws}
    websocket: {body: json}
  - match: {path: /v1/chat/completions}
    sse: {text: "$.choices[*].delta.content"}
  - match: {path: /upload}
    action: block
limits: {max_body: 10MB, max_ws_message: 64KiB, max_streams: 100}
`
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if cfg.Limits.MaxBody != 10_000_000 || cfg.Limits.MaxWSMessage != 64<<10 {
		t.Errorf("limits = %+v", cfg.Limits)
	}
	if _, err := New(cfg, Options{Engine: httpEngine(t, detectors.Config{})}); err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := New(cfg, Options{}); err == nil || errors.Is(err, errMalformed) {
		t.Errorf("New without an engine: %v", err)
	}
}
