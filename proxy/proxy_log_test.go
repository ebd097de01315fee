package proxy

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/veilproxy/veil/detectors"
)

// TestLogsHoldNoValues drives requests that succeed, get refused and fail
// upstream, with sensitive values in bodies, queries and headers, and checks
// that none of them reaches the log, and that every line has a request id.
func TestLogsHoldNoValues(t *testing.T) {
	const (
		headerSecret = "Bearer hdr-secret-7731"
		querySecret  = "q-secret-5512"
		bodySecret   = "body-secret-9045"
	)
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/badreply" {
			_, _ = io.WriteString(w, `{"x":"`+testCard+` `+bodySecret)
			return
		}
		_, _ = io.WriteString(w, `{"echo":"`+testCard+` `+bodySecret+`"}`)
	})
	e := httpEngine(t, detectors.Config{})
	_, srv := newTestProxy(t, Config{
		Upstream: rec.srv.URL,
		Routes:   []Route{{Match: Match{Path: "/blocked"}, Action: "block"}},
		Limits:   Limits{MaxBody: 4096},
	}, Options{Engine: e, Logger: logger})
	down := newRecorder(t, nil)
	down.srv.Close()
	_, srvDown := newTestProxy(t, cfgFor(down.srv.URL), Options{Engine: e, Logger: logger})

	requests := []struct {
		base, path, ct, body string
	}{
		{srv.URL, "/ok?card=" + strings.ReplaceAll(testCard, " ", "+") + "&s=" + querySecret, "application/json", `{"t":"` + testCard + ` ` + bodySecret + `"}`},
		{srv.URL, "/bad?s=" + querySecret, "application/json", `{"t":"` + testCard + ` ` + bodySecret},
		{srv.URL, "/form", "application/x-www-form-urlencoded", "a=%zz" + bodySecret},
		{srv.URL, "/big", "text/plain", strings.Repeat(bodySecret, 500)},
		{srv.URL, "/blocked?s=" + querySecret, "text/plain", bodySecret},
		{srv.URL, "/badreply", "text/plain", bodySecret},
		{srv.URL, "/file", "application/octet-stream", bodySecret},
		{srvDown.URL, "/down?s=" + querySecret, "text/plain", bodySecret + " " + testCard},
	}
	for _, r := range requests {
		req, _ := http.NewRequest(http.MethodPost, r.base+r.path, strings.NewReader(r.body))
		req.Header.Set("Content-Type", r.ct)
		req.Header.Set("Authorization", headerSecret)
		req.Header.Set("X-Visitor", testCard)
		resp, _ := do(t, req)
		_ = resp
	}
	out := logs.String()
	if out == "" {
		t.Fatal("nothing was logged")
	}
	compact := strings.NewReplacer(" ", "", "-", "", "+", "").Replace(out)
	for _, secret := range []string{"4111111111111111", headerSecret, "hdr-secret", querySecret, bodySecret, "card="} {
		if strings.Contains(out, secret) || strings.Contains(compact, secret) {
			t.Errorf("logs hold %q:\n%s", secret, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < len(requests) {
		t.Errorf("%d log lines for %d requests", len(lines), len(requests))
	}
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if id, _ := m["request_id"].(string); id == "" {
			t.Errorf("log line without request_id: %s", line)
		}
	}
}
