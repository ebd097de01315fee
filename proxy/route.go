package proxy

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// route is a compiled Route: the matcher, the parsed paths and policies that
// the hot path uses. The unmatched route (label "unmatched") scans by
// Content-Type and carries default WebSocket and SSE settings.
type route struct {
	cfg   Route  // as configured (for the unmatched route: the defaults)
	label string // metrics label: Match.Path as configured, or "unmatched"

	// Matching.
	exact   string // exact path, or "" when prefix is set
	prefix  string // "/api/" for "/api/*"; also matches "/api"
	any     bool   // matches every path (no path, or "/*")
	methods map[string]bool
	host    string // lower case, no port; "*.example.com" matches subdomains

	// Scanning.
	scan        bool            // false: pass unscanned (scan: false)
	body        string          // json, form, text, none, or "" (by Content-Type)
	skip        []jsonPath      // never scanned (with everything below them)
	strict      []jsonPath      // scanned with RedactOptions.Strict
	allowFiles  bool            // multipart file parts and binary bodies pass
	blocked     bool            // action: block
	ws          *WebSocketRoute // effective WebSocket settings; nil: upgrades refused
	wsSkip      []jsonPath
	wsStrict    []jsonPath
	sse         *SSERoute // effective SSE settings; nil: event streams pass unscanned
	sseText     *jsonPath // compiled sse.text; nil: the raw data is the text
	upstream    *url.URL  // nil: the proxy's upstream
	stripPrefix string
	addPrefix   string

	stripHeaders []string        // canonical response header names
	stripCookies map[string]bool // Set-Cookie names to drop
}

// compileRoute turns a validated Route into its compiled form.
func compileRoute(rc Route, defaultWS *WebSocketRoute) (*route, error) {
	rt := &route{
		cfg:         rc,
		label:       rc.Match.Path,
		scan:        rc.Scan == nil || *rc.Scan,
		body:        rc.Body,
		allowFiles:  rc.Files == "allow",
		blocked:     rc.Action == "block",
		stripPrefix: rc.StripPrefix,
		addPrefix:   rc.AddPrefix,
		host:        strings.ToLower(rc.Match.Host),
	}
	if rt.label == "" {
		rt.label = "*"
	}
	switch p := rc.Match.Path; {
	case p == "" || p == "/*" || p == "*":
		rt.any = true
	case strings.HasSuffix(p, "/*"):
		rt.prefix = strings.TrimSuffix(p, "*")
	default:
		rt.exact = cleanPath(p)
	}
	if len(rc.Match.Methods) > 0 {
		rt.methods = make(map[string]bool, len(rc.Match.Methods))
		for _, m := range rc.Match.Methods {
			rt.methods[strings.ToUpper(m)] = true
		}
	}
	var err error
	if rt.skip, err = compilePaths(rc.Skip); err != nil {
		return nil, err
	}
	if rt.strict, err = compilePaths(rc.Strict); err != nil {
		return nil, err
	}
	if rc.Upstream != "" {
		if rt.upstream, err = parseUpstream(rc.Upstream); err != nil {
			return nil, err
		}
	}
	switch {
	case rc.WebSocket != nil:
		rt.ws = rc.WebSocket
	case rt.scan:
		rt.ws = defaultWS
	}
	if rt.ws != nil {
		if rt.wsSkip, err = compilePaths(rt.ws.Skip); err != nil {
			return nil, err
		}
		if rt.wsStrict, err = compilePaths(rt.ws.Strict); err != nil {
			return nil, err
		}
	}
	switch {
	case rc.SSE != nil:
		rt.sse = rc.SSE
	case rt.scan:
		rt.sse = &SSERoute{}
	}
	if rt.sse != nil && rt.sse.Text != "" {
		p, err := parseJSONPath(rt.sse.Text)
		if err != nil {
			return nil, err
		}
		rt.sseText = &p
	}
	for _, h := range rc.StripResponseHeaders {
		rt.stripHeaders = append(rt.stripHeaders, http.CanonicalHeaderKey(h))
	}
	if len(rc.StripCookies) > 0 {
		rt.stripCookies = make(map[string]bool, len(rc.StripCookies))
		for _, c := range rc.StripCookies {
			rt.stripCookies[c] = true
		}
	}
	return rt, nil
}

// unmatchedRoute is used for requests no route matches: scanned by
// Content-Type, WebSocket messages scanned as text or JSON, SSE data scanned
// as raw text.
func unmatchedRoute() *route {
	ws := &WebSocketRoute{}
	rt, _ := compileRoute(Route{WebSocket: ws, SSE: &SSERoute{}}, ws) // cannot fail: nothing to parse
	rt.label = "unmatched"
	return rt
}

func compilePaths(ss []string) ([]jsonPath, error) {
	out := make([]jsonPath, 0, len(ss))
	for _, s := range ss {
		p, err := parseJSONPath(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// matches reports whether r is for this route. cleaned is path.Clean of the
// request path, so "/upload/", "//upload" and "/x/../upload" all match
// "/upload".
func (rt *route) matches(r *http.Request, cleaned string) bool {
	if rt.methods != nil && !rt.methods[r.Method] {
		return false
	}
	if rt.host != "" && !hostMatches(rt.host, r.Host) {
		return false
	}
	switch {
	case rt.any:
		return true
	case rt.prefix != "":
		return strings.HasPrefix(cleaned, rt.prefix) || cleaned == strings.TrimSuffix(rt.prefix, "/")
	default:
		return cleaned == rt.exact
	}
}

func hostMatches(pattern, host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		return strings.HasSuffix(host, "."+rest)
	}
	return host == pattern
}

// cleanPath returns the canonical form of p used for matching.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	return path.Clean(p)
}

// parseUpstream parses and checks an upstream URL.
func parseUpstream(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme must be http or https")
	}
	if u.Host == "" {
		return nil, fmt.Errorf("missing host")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("must not have a query, fragment or user info")
	}
	return u, nil
}

// outboundPath applies strip_prefix and add_prefix to an escaped path.
func (rt *route) outboundPath(escaped string) string {
	if rt.stripPrefix != "" {
		p := strings.TrimSuffix(rt.stripPrefix, "/")
		if escaped == p {
			escaped = "/"
		} else if strings.HasPrefix(escaped, p+"/") {
			escaped = escaped[len(p):]
		}
	}
	if rt.addPrefix != "" {
		escaped = strings.TrimSuffix(rt.addPrefix, "/") + escaped
	}
	return escaped
}
