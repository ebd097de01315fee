package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// issueConfig is the shape external checks start Veil with; it must keep
// loading as written.
const issueConfig = `listen: "127.0.0.1:8080"
tls: {mode: "off"}
upstream: "http://127.0.0.1:9000"
data_dir: "/some/dir"
routes:
  - match: {path: /api/messages}
    body: json
  - match: {path: /ws}
    websocket: {body: json}
  - match: {path: /v1/chat/completions}
    sse: {text: "$.choices[*].delta.content"}
vault:
  key: {env: VEIL_MASTER_KEY}
`

func TestParseConfigAcceptsTheDocumentedShape(t *testing.T) {
	cfg, err := parseConfig("veil.yaml", []byte(issueConfig))
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	if cfg.Upstream != "http://127.0.0.1:9000" || len(cfg.Routes) != 3 {
		t.Fatalf("decoded %q with %d routes", cfg.Upstream, len(cfg.Routes))
	}
	if cfg.Routes[1].WebSocket == nil || cfg.Routes[1].WebSocket.Body != "json" {
		t.Fatalf("websocket route not decoded: %+v", cfg.Routes[1])
	}
	if got := cfg.Routes[2].Pos.Line; got != 10 {
		t.Errorf("route 3 recorded at line %d, want 10", got)
	}
	if got := cfg.Routes[2].Pos.Keys["sse"]; got != 11 {
		t.Errorf("route 3 key sse recorded at line %d, want 11", got)
	}
}

func TestParseConfigDesignExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "design.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig("design.yaml", data)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	if len(cfg.Detectors.Rules) != 1 || cfg.Detectors.Rules[0].Pos.Line == 0 {
		t.Fatalf("rule position not recorded: %+v", cfg.Detectors.Rules)
	}
	if len(cfg.Forms) != 1 || cfg.Forms[0].Pos.Keys["fields"] == 0 {
		t.Fatalf("form position not recorded: %+v", cfg.Forms)
	}
}

func TestParseConfigErrorsNameLineAndKey(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings, each must appear
	}{
		{
			name: "unknown top-level key",
			yaml: "data_dir: /x\nupstrem: http://a\n",
			want: []string{"veil.yaml:2:", `"upstrem"`},
		},
		{
			name: "unknown key inside a route",
			yaml: "data_dir: /x\nroutes:\n  - match: {path: /a}\n    bodyy: json\n",
			want: []string{"veil.yaml:4:", `"bodyy"`},
		},
		{
			name: "every unknown key reported at once",
			yaml: "data_dir: /x\nfoo: 1\nvault:\n  kee: {env: X}\n",
			want: []string{"veil.yaml:2:", `"foo"`, "veil.yaml:4:", `"kee"`},
		},
		{
			name: "syntax error",
			yaml: "data_dir: /x\nroutes: [\n",
			want: []string{"veil.yaml:"},
		},
		{
			name: "bad tls mode",
			yaml: "data_dir: /x\ntls: {mode: maybe}\n",
			want: []string{"tls.mode", `"maybe"`},
		},
		{
			name: "missing data_dir",
			yaml: "upstream: http://a\n",
			want: []string{"data_dir"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig("/etc/veil/veil.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("parseConfig accepted an invalid config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(issueConfig))
	if data, err := os.ReadFile(filepath.Join("testdata", "design.yaml")); err == nil {
		f.Add(data)
	}
	f.Add([]byte("routes: [{match: {path: /a}}]\n"))
	f.Add([]byte("detectors: {rules: [{id: x, pattern: '('}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Must never panic, whatever the bytes.
		_, _ = parseConfig("fuzz.yaml", data)
	})
}

func TestParseConfigRuleErrorsNameFileLineRuleAndField(t *testing.T) {
	const yaml = `data_dir: /x
detectors:
  rules:
    - id: acme_mrn
      type: mrn
      pattern: '(?i)MRN[:#\s]*(?<v>\d{7,10}'
      keywords: [mrn]
`
	_, err := parseConfig("/etc/veil/veil.yaml", []byte(yaml))
	if err == nil {
		t.Fatal("a rule with an unbalanced pattern was accepted")
	}
	for _, w := range []string{"veil.yaml:6:", "acme_mrn", "pattern"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}
