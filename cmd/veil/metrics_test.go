package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %v %d", err, resp.StatusCode)
	}
	return string(b)
}

func TestMetricsNamesAndLabels(t *testing.T) {
	m := newMetrics()
	m.Scanned("/api/messages", "request", 2*time.Millisecond)
	m.Scanned("/v1/chat/completions", "response", time.Millisecond)
	m.Found("card", "divert", "/api/messages", "request")
	m.Blocked("/upload", "request", "route")
	m.SSEHeld(30 * time.Millisecond)
	m.WebSocketConns(+1)
	m.WebSocketConns(+1)
	m.WebSocketConns(-1)
	m.VaultRecords(7)
	m.Purged("expired", 3)
	m.FormSubmitted("payment")
	m.RevealAttempt("ok")
	m.ConfigReload("error")
	out := scrape(t, adminMux(m, nil))

	want := []string{
		`veil_messages_scanned_total{direction="request",route="/api/messages"} 1`,
		`veil_messages_scanned_total{direction="response",route="/v1/chat/completions"} 1`,
		`veil_findings_total{action="divert",direction="request",route="/api/messages",type="card"} 1`,
		`veil_blocked_total{direction="request",reason="route",route="/upload"} 1`,
		`veil_scan_seconds_count{direction="request",route="/api/messages"} 1`,
		`veil_sse_holdback_seconds_count 1`,
		`veil_websocket_connections 1`,
		`veil_vault_records 7`,
		`veil_purges_total{reason="expired"} 3`,
		`veil_form_submissions_total{form="payment"} 1`,
		`veil_reveals_total{outcome="ok"} 1`,
		`veil_config_reloads_total{result="error"} 1`,
		`go_goroutines`,
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("metrics lack %s", w)
		}
	}
}

// TestMetricsCarryNoValues feeds the observer methods what a careless
// caller might pass (values, URLs, ids) and checks none reaches a scrape.
func TestMetricsCarryNoValues(t *testing.T) {
	forbidden := []string{
		"4111111111111111", "4111 1111 1111 1111", "123-45-6789",
		"jane.doe@example.com", "550e8400-e29b-41d4-a716-446655440000",
		"token=abc", "/api/messages?conversation=98765", "/conversations/1234567",
		"https://chat.example.com/x",
	}
	m := newMetrics()
	for _, v := range forbidden {
		m.Scanned(v, v, time.Millisecond)
		m.Found(v, v, v, "request")
		m.Blocked(v, "response", v)
		m.Purged(v, 1)
		m.FormSubmitted(v)
		m.RevealAttempt(v)
		m.ConfigReload(v)
	}
	out := scrape(t, adminMux(m, nil))
	for _, v := range forbidden {
		if strings.Contains(out, v) {
			t.Errorf("scrape contains %q", v)
		}
	}
	if !strings.Contains(out, `veil_findings_total{action="other",direction="request",route="other",type="other"}`) {
		t.Error("rejected label values are not counted as other")
	}
}

func TestLabelFilters(t *testing.T) {
	tests := []struct {
		fn         func(string) string
		name, in   string
		wantPassed bool
	}{
		{routeLabel, "route pattern", "/api/messages", true},
		{routeLabel, "route with wildcard", "/veil/r/{token}", true},
		{routeLabel, "versioned route", "/v1/chat/completions", true},
		{routeLabel, "unmatched", "unmatched", true},
		{routeLabel, "query", "/api?x=1", false},
		{routeLabel, "id in path", "/c/123456", false},
		{routeLabel, "full URL", "https://a.example/", false},
		{nameLabel, "type", "card_track", true},
		{nameLabel, "digits", "4111111111111111", false},
		{nameLabel, "email", "a@b.c", false},
		{nameLabel, "upper case", "Card", false},
		{directionLabel, "direction", "response", true},
		{directionLabel, "bad direction", "sideways", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.fn(tt.in)
			if (got == tt.in) != tt.wantPassed {
				t.Errorf("label(%q) = %q, want passed %v", tt.in, got, tt.wantPassed)
			}
		})
	}
}

func TestAdminMuxHealth(t *testing.T) {
	vaultDown := errors.New("database is locked")
	tests := []struct {
		name       string
		ready      func(context.Context) error
		wantStatus int
		wantFailed []string
	}{
		{"no checks", nil, http.StatusOK, nil},
		{"all pass", readyChecks(
			readyCheck{"vault", func(context.Context) error { return nil }},
			readyCheck{"upstream", func(context.Context) error { return nil }},
		), http.StatusOK, nil},
		{"vault fails", readyChecks(
			readyCheck{"vault", func(context.Context) error { return vaultDown }},
			readyCheck{"upstream", func(context.Context) error { return nil }},
			readyCheck{"config", func(context.Context) error { return nil }},
		), http.StatusServiceUnavailable, []string{"vault"}},
		{"two fail", readyChecks(
			readyCheck{"upstream", func(context.Context) error { return errors.New("dial refused") }},
			readyCheck{"config", func(context.Context) error { return errors.New("no config") }},
		), http.StatusServiceUnavailable, []string{"upstream", "config"}},
		{"single named error", func(context.Context) error {
			return fmt.Errorf("checking: %w", notReady("config", errors.New("not loaded")))
		}, http.StatusServiceUnavailable, []string{"config"}},
		{"unnamed error", func(context.Context) error { return errors.New("boom") },
			http.StatusServiceUnavailable, []string{"unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(adminMux(newMetrics(), tt.ready))
			defer srv.Close()

			resp, err := http.Get(srv.URL + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != "ok" {
				t.Errorf("/healthz: %d %q", resp.StatusCode, b)
			}

			resp, err = http.Get(srv.URL + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("/readyz status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			var body struct {
				Status string   `json:"status"`
				Failed []string `json:"failed"`
			}
			raw, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("/readyz body %q: %v", raw, err)
			}
			if fmt.Sprint(body.Failed) != fmt.Sprint(tt.wantFailed) {
				t.Errorf("failed checks %v, want %v", body.Failed, tt.wantFailed)
			}
			if strings.Contains(string(raw), vaultDown.Error()) {
				t.Error("/readyz exposes the error text")
			}
		})
	}
}

// FuzzLabels checks that whatever a caller passes, a label is either the
// input unchanged (when it looks like config) or a fixed word, and never
// carries a query, an '@' or a long digit run.
func FuzzLabels(f *testing.F) {
	for _, s := range []string{"/api/messages", "unmatched", "card_track", "/c/12345", "a@b", "/x?y=1", "", "/v1/{id}/*"} {
		f.Add(s)
	}
	longDigits := regexp.MustCompile(`[0-9]{5}`)
	f.Fuzz(func(t *testing.T, s string) {
		for _, fn := range []func(string) string{routeLabel, nameLabel, directionLabel} {
			got := fn(s)
			if got != s && got != otherLabel {
				t.Fatalf("label(%q) = %q", s, got)
			}
			if got == otherLabel || got == "unmatched" {
				continue
			}
			if strings.ContainsAny(got, "?@ \n=&") || longDigits.MatchString(got) || len(got) > 128 {
				t.Fatalf("label(%q) passed a value-like string", s)
			}
		}
	})
}
