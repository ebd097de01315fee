package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// otherLabel replaces a label value that does not look like something
// written in the config (a route pattern, a type, an action).
const otherLabel = "other"

// metrics holds Veil's Prometheus metrics in a registry of its own. It
// implements proxy.Observer. Label values come from config only (route
// patterns, detector types, actions, form names); anything that looks like
// a value, a URL or an identifier is recorded as "other".
type metrics struct {
	reg *prometheus.Registry

	scanned     *prometheus.CounterVec
	findings    *prometheus.CounterVec
	blocked     *prometheus.CounterVec
	scanSeconds *prometheus.HistogramVec
	sseHold     prometheus.Histogram
	wsConns     prometheus.Gauge
	records     prometheus.Gauge
	purges      *prometheus.CounterVec
	forms       *prometheus.CounterVec
	reveals     *prometheus.CounterVec
	reloads     *prometheus.CounterVec
}

// newMetrics registers every metric, plus the Go runtime and process
// collectors, in a new registry.
func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) } // fixed names: a clash is a programming error
	m := &metrics{
		reg: reg,
		scanned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "veil_messages_scanned_total", Help: "Messages (bodies, WebSocket messages, SSE events) scanned.",
		}, []string{"route", "direction"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "veil_findings_total", Help: "Sensitive values found, by detector type and action taken.",
		}, []string{"type", "action", "route", "direction"}),
		blocked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "veil_blocked_total", Help: "Messages refused instead of forwarded.",
		}, []string{"route", "direction", "reason"}),
		scanSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "veil_scan_seconds", Help: "Time spent scanning one message.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"route", "direction"}),
		sseHold: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "veil_sse_holdback_seconds", Help: "How long SSE text was held back while it could still become a sensitive value.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		wsConns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "veil_websocket_connections", Help: "WebSocket connections open through the proxy.",
		}),
		records: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "veil_vault_records", Help: "Records held in the vault.",
		}),
		purges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "veil_purges_total", Help: "Vault records deleted, by reason.",
		}, []string{"reason"}),
		forms: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "veil_form_submissions_total", Help: "Secure forms submitted.",
		}, []string{"form"}),
		reveals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "veil_reveals_total", Help: "Reveal attempts, by outcome.",
		}, []string{"outcome"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "veil_config_reloads_total", Help: "Config reloads, by result.",
		}, []string{"result"}),
	}
	f(m.scanned)
	f(m.findings)
	f(m.blocked)
	f(m.scanSeconds)
	f(m.sseHold)
	f(m.wsConns)
	f(m.records)
	f(m.purges)
	f(m.forms)
	f(m.reveals)
	f(m.reloads)
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Scanned counts a scanned message and its scan time. direction is
// "request" or "response".
func (m *metrics) Scanned(route, direction string, d time.Duration) {
	r, dir := routeLabel(route), directionLabel(direction)
	m.scanned.WithLabelValues(r, dir).Inc()
	m.scanSeconds.WithLabelValues(r, dir).Observe(d.Seconds())
}

// Found counts one finding by type and action.
func (m *metrics) Found(typ, action, route, direction string) {
	m.findings.WithLabelValues(nameLabel(typ), nameLabel(action), routeLabel(route), directionLabel(direction)).Inc()
}

// Blocked counts a refused message; reason is a short fixed word
// ("finding", "parse_error", "timeout", "too_large", "route").
func (m *metrics) Blocked(route, direction, reason string) {
	m.blocked.WithLabelValues(routeLabel(route), directionLabel(direction), nameLabel(reason)).Inc()
}

// SSEHeld records how long SSE text was held back.
func (m *metrics) SSEHeld(d time.Duration) { m.sseHold.Observe(d.Seconds()) }

// WebSocketConns adds delta (+1 open, -1 closed) to the open connections.
func (m *metrics) WebSocketConns(delta int) { m.wsConns.Add(float64(delta)) }

// VaultRecords sets the number of records in the vault.
func (m *metrics) VaultRecords(n int) { m.records.Set(float64(n)) }

// Purged counts n records deleted for reason ("expired", "viewed",
// "manual").
func (m *metrics) Purged(reason string, n int) {
	if n <= 0 {
		return
	}
	m.purges.WithLabelValues(nameLabel(reason)).Add(float64(n))
}

// FormSubmitted counts a submission of the form named in config.
func (m *metrics) FormSubmitted(form string) { m.forms.WithLabelValues(nameLabel(form)).Inc() }

// RevealAttempt counts a reveal attempt by outcome ("ok", "not_found",
// "consumed", "expired", "denied").
func (m *metrics) RevealAttempt(outcome string) { m.reveals.WithLabelValues(nameLabel(outcome)).Inc() }

// ConfigReload counts a config reload by result ("ok" or "error").
func (m *metrics) ConfigReload(result string) { m.reloads.WithLabelValues(nameLabel(result)).Inc() }

// directionLabel is "request", "response" or "other".
func directionLabel(s string) string {
	if s == "request" || s == "response" {
		return s
	}
	return otherLabel
}

// nameLabel accepts identifiers as config writes them: a lowercase letter,
// then up to 63 lowercase letters, digits, '_' or '-', with no run of five
// or more digits.
func nameLabel(s string) string {
	if len(s) == 0 || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return otherLabel
	}
	return labelOf(s, func(c byte) bool { return c >= 'a' && c <= 'z' || c == '_' || c == '-' })
}

// routeLabel accepts "unmatched" or a path pattern as config writes it: it
// starts with '/', has no query, and no run of five or more digits (which
// would be an id or a value, not a pattern).
func routeLabel(s string) string {
	if s == "unmatched" {
		return s
	}
	if len(s) == 0 || len(s) > 128 || s[0] != '/' {
		return otherLabel
	}
	return labelOf(s, func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("/_-.{}*", c) >= 0
	})
}

// labelOf returns s when every byte is a digit or allowed and no run of
// five or more digits (an id or a value) is in it, and otherLabel if not.
func labelOf(s string, allowed func(byte) bool) string {
	digits := 0
	for _, c := range []byte(s) {
		switch {
		case c >= '0' && c <= '9':
			digits++
			if digits >= 5 {
				return otherLabel
			}
			continue
		case !allowed(c):
			return otherLabel
		}
		digits = 0
	}
	return s
}

// readyError names the readiness check that failed: "vault", "upstream"
// or "config".
type readyError struct {
	Check string
	Err   error
}

func (e *readyError) Error() string { return e.Check + ": " + e.Err.Error() }
func (e *readyError) Unwrap() error { return e.Err }

// notReady wraps err as the failure of the named readiness check.
func notReady(check string, err error) error { return &readyError{Check: check, Err: err} }

// readyCheck is one named readiness check.
type readyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// readyChecks runs every check and joins the failures, each a readyError
// naming its check.
func readyChecks(checks ...readyCheck) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		var errs []error
		for _, c := range checks {
			if err := c.Check(ctx); err != nil {
				errs = append(errs, notReady(c.Name, err))
			}
		}
		return errors.Join(errs...)
	}
}

// failedChecks lists the check names in err (a readyError or a join of
// them); "unknown" stands for an error without a name.
func failedChecks(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		var re *readyError
		if multi, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range multi.Unwrap() {
				walk(x)
			}
			return
		}
		if errors.As(e, &re) {
			out = append(out, nameLabel(re.Check))
			return
		}
		out = append(out, "unknown")
	}
	walk(err)
	return out
}

// readyTimeout bounds one /readyz evaluation.
const readyTimeout = 5 * time.Second

// adminMux serves the admin listener: /metrics, /healthz (the process is
// alive: 200 "ok") and /readyz (200 when ready returns nil; 503 with a JSON
// body naming the failed checks otherwise). A nil ready is always ready.
// Error texts are not sent, only check names.
func adminMux(m *metrics, ready func(ctx context.Context) error) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		var err error
		if ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			err = ready(ctx)
			cancel()
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		type body struct {
			Status string   `json:"status"`
			Failed []string `json:"failed,omitempty"`
		}
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(body{Status: "not ready", Failed: failedChecks(err)})
			return
		}
		_ = json.NewEncoder(w).Encode(body{Status: "ready"})
	})
	return mux
}
