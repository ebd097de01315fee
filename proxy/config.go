package proxy

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

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
	WSPingTimeout   time.Duration `yaml:"ws_ping_timeout"`
	ResponseTimeout time.Duration `yaml:"response_header_timeout"`
}

// ByteSize is a size written as 10MB, 64KiB or a plain number of bytes.
type ByteSize int64

// UnmarshalYAML accepts a plain number of bytes (1048576) or a number with
// a unit: B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024),
// case-insensitive, with an optional space ("10MB", "64 KiB", "1.5MiB").
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: size: want a number of bytes or a size such as 10MB", n.Line)
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// ParseByteSize parses a size as ByteSize.UnmarshalYAML does.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, fmt.Errorf("size %q: want a number of bytes or a size such as 10MB", s)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
	}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("size %q: unknown unit %q (want B, KB, MB, GB, KiB, MiB or GiB)", s, t[i:])
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: not a number", s)
	}
	v := f * mult
	if v > math.MaxInt64/2 {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	if v != math.Trunc(v) {
		return 0, fmt.Errorf("size %q: not a whole number of bytes", s)
	}
	return ByteSize(v), nil
}

// Validate reports every problem in c at once, each prefixed with the
// file and line of the route (or key) and naming the route.
func (c Config) Validate() error {
	var errs []error
	if c.Upstream == "" {
		errs = append(errs, errors.New("upstream: required"))
	} else if _, err := parseUpstream(c.Upstream); err != nil {
		errs = append(errs, fmt.Errorf("upstream: %w", err))
	}
	for i, r := range c.Routes {
		errs = append(errs, r.validate(i)...)
	}
	errs = append(errs, c.Limits.validate()...)
	return errors.Join(errs...)
}

// validate checks one route; i is its index in the routes list.
func (r Route) validate(i int) []error {
	name := fmt.Sprintf("route %d", i+1)
	if r.Match.Path != "" {
		name = fmt.Sprintf("route %q", r.Match.Path)
	}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s: %s", r.Pos.At(key), name, key, fmt.Sprintf(format, args...)))
	}
	if p := r.Match.Path; p != "" && p != "*" {
		switch {
		case !strings.HasPrefix(p, "/"):
			bad("match", "path %q must start with /", p)
		case strings.Contains(strings.TrimSuffix(p, "/*"), "*"):
			bad("match", "path %q: * is only allowed as a final /*", p)
		}
	}
	for _, m := range r.Match.Methods {
		if m == "" || strings.IndexFunc(m, func(c rune) bool { return c < 'A' || c > 'Z' && (c < 'a' || c > 'z') }) >= 0 {
			bad("match", "method %q is not a method name", m)
		}
	}
	if h := r.Match.Host; h != "" && strings.ContainsAny(strings.TrimPrefix(h, "*."), "*/: ") {
		bad("match", "host %q: want a host name or *.domain", h)
	}
	switch r.Body {
	case "", "json", "form", "text", "none":
	default:
		bad("body", "%q is not json, form, text or none", r.Body)
	}
	switch r.Files {
	case "", "block", "allow":
	default:
		bad("files", "%q is not block or allow", r.Files)
	}
	switch r.Action {
	case "", "block":
	default:
		bad("action", "%q is not block", r.Action)
	}
	for _, key := range []string{"skip", "strict"} {
		paths := r.Skip
		if key == "strict" {
			paths = r.Strict
		}
		for _, s := range paths {
			if _, err := parseJSONPath(s); err != nil {
				bad(key, "%v", err)
			}
		}
	}
	if ws := r.WebSocket; ws != nil {
		switch ws.Body {
		case "", "json", "text":
		default:
			bad("websocket", "body: %q is not json or text", ws.Body)
		}
		switch ws.Binary {
		case "", "block", "pass":
		default:
			bad("websocket", "binary: %q is not block or pass", ws.Binary)
		}
		for _, s := range append(append([]string(nil), ws.Skip...), ws.Strict...) {
			if _, err := parseJSONPath(s); err != nil {
				bad("websocket", "%v", err)
			}
		}
	}
	if r.SSE != nil && r.SSE.Text != "" {
		if _, err := parseJSONPath(r.SSE.Text); err != nil {
			bad("sse", "text: %v", err)
		}
	}
	if r.Upstream != "" {
		if _, err := parseUpstream(r.Upstream); err != nil {
			bad("upstream", "%v", err)
		}
	}
	for _, key := range []string{"strip_prefix", "add_prefix"} {
		v := r.StripPrefix
		if key == "add_prefix" {
			v = r.AddPrefix
		}
		if v != "" && (!strings.HasPrefix(v, "/") || strings.ContainsAny(v, "?#*")) {
			bad(key, "%q must be a path starting with /", v)
		}
	}
	for _, h := range r.StripResponseHeaders {
		if h == "" || strings.ContainsAny(h, " :\t\r\n") {
			bad("strip_response_headers", "%q is not a header name", h)
		} else if c := http.CanonicalHeaderKey(h); c == "Content-Type" || c == "Content-Length" {
			bad("strip_response_headers", "%s cannot be stripped", c)
		}
	}
	for _, name := range r.StripCookies {
		if name == "" || strings.ContainsAny(name, " =;\t") {
			bad("strip_cookies", "%q is not a cookie name", name)
		}
	}
	return errs
}

func (l Limits) validate() []error {
	var errs []error
	neg := func(key string, negative bool) {
		if negative {
			errs = append(errs, fmt.Errorf("limits: %s: must not be negative", key))
		}
	}
	neg("max_body", l.MaxBody < 0)
	neg("max_ws_message", l.MaxWSMessage < 0)
	neg("max_sse_event", l.MaxSSEEvent < 0)
	neg("max_streams", l.MaxStreams < 0)
	neg("upstream_timeout", l.UpstreamTimeout < 0)
	neg("scan_timeout", l.ScanTimeout < 0)
	neg("ws_idle_timeout", l.WSIdleTimeout < 0)
	neg("ws_ping_timeout", l.WSPingTimeout < 0)
	neg("response_header_timeout", l.ResponseTimeout < 0)
	return errs
}
