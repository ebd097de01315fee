package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/veilproxy/veil/detectors"
)

func TestRulesList(t *testing.T) {
	cfg := writeFile(t, "veil.yaml", scanTestConfig)
	eng, err := detectors.Compile(detectors.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defaults := eng.Rules()
	if len(defaults) == 0 {
		t.Fatal("no default rules")
	}
	cases := []struct {
		name     string
		args     []string
		wantRows []string // each row's fields, space-joined
		rows     int
	}{
		{"defaults", []string{"rules", "list"}, []string{defaults[0].ID + " " + defaults[0].Type + " " + defaults[0].Action + " default"}, len(defaults)},
		{"with config", []string{"rules", "list", "--config", cfg}, []string{"acme_ref acme_ref mask veil.yaml", defaults[0].ID + " " + defaults[0].Type}, len(defaults) + 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runVeil(t, "", tc.args...)
			if r.code != exitClean {
				t.Fatalf("exit %d; stderr %s", r.code, r.stderr)
			}
			lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			if got := strings.Fields(lines[0]); strings.Join(got, " ") != "ID TYPE ACTION SOURCE" {
				t.Errorf("header %q", lines[0])
			}
			if len(lines)-1 != tc.rows {
				t.Errorf("%d rows, want %d", len(lines)-1, tc.rows)
			}
			var rows []string
			for _, l := range lines[1:] {
				rows = append(rows, strings.Join(strings.Fields(l), " "))
			}
			for _, want := range tc.wantRows {
				found := false
				for _, row := range rows {
					if strings.HasPrefix(row, want) {
						found = true
					}
				}
				if !found {
					t.Errorf("no row starts with %q in:\n%s", want, r.stdout)
				}
			}
		})
	}
}

func TestRulesTest(t *testing.T) {
	good := writeFile(t, "veil.yaml", scanTestConfig)
	failing := writeFile(t, "failing.yaml", `upstream: https://chat.example.com
data_dir: /var/lib/veil
vault: {key: {env: VEIL_MASTER_KEY}}
detectors:
  rules:
    - id: acme_ref
      type: acme_ref
      pattern: '\bACME-REF-(?<v>\d{6})\b'
      keywords: [acme-ref]
      tests:
        match: ["ref ACME-REF-12"]
        no_match: ["ref ACME-REF-123456"]
    - id: acme_ok
      type: acme_ok
      pattern: '\bOK-(?<v>\d{4})\b'
      keywords: [ok-]
      tests:
        match: ["OK-1234"]
`)
	broken := writeFile(t, "broken.yaml", `upstream: https://chat.example.com
data_dir: /var/lib/veil
vault: {key: {env: VEIL_MASTER_KEY}}
detectors:
  rules:
    - id: acme_bad
      type: acme_bad
      pattern: '(unclosed'
      tests:
        match: ["x"]
`)
	cases := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
		notOut   []string
	}{
		{"broken config", []string{"rules", "test", "--config", broken}, exitError, nil, []string{"ok:"}},
		{"broken config list", []string{"rules", "list", "--config", broken}, exitError, nil, []string{"acme_bad"}},
		{"missing config", []string{"rules", "test", "--config", filepath.Join(t.TempDir(), "none.yaml")}, exitError, nil, nil},
		{"defaults pass", []string{"rules", "test"}, exitClean, []string{"ok:"}, []string{"FAIL"}},
		{"config passes", []string{"rules", "test", "--config", good}, exitClean, []string{"ok:"}, []string{"FAIL"}},
		{"failures by rule", []string{"rules", "test", "--config", failing}, exitFound,
			[]string{"FAIL acme_ref", "ACME-REF-12", "no_match", "2 failing samples in 1 rules"}, []string{"FAIL acme_ok"}},
		{"no subcommand", []string{"rules"}, exitError, nil, nil},
		{"unknown subcommand", []string{"rules", "check"}, exitError, nil, nil},
		{"stray argument", []string{"rules", "list", "extra"}, exitError, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runVeil(t, "", tc.args...)
			if r.code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stdout %s; stderr %s", r.code, tc.wantCode, r.stdout, r.stderr)
			}
			for _, s := range tc.wantOut {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout %q lacks %q", r.stdout, s)
				}
			}
			for _, s := range tc.notOut {
				if strings.Contains(r.stdout, s) {
					t.Errorf("stdout %q holds %q", r.stdout, s)
				}
			}
		})
	}
}
