package agent

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestNoSecretsInLogs runs logins, failures, tokens and logouts, and checks
// that no password, code, token or session id reaches the log or the audit
// trail.
func TestNoSecretsInLogs(t *testing.T) {
	f := newFixture(t, Config{})
	const typoPassword = "typo-in-the-username-field-77"
	secret := f.addAccount("alice", alicePassword)
	var secrets []string

	c := f.client()
	code := f.code(secret)
	secrets = append(secrets, alicePassword, code, secret, testToken, typoPassword)
	f.login(c, "alice", "wrong-"+alicePassword, code)
	f.login(f.client(), typoPassword, alicePassword, code) // a password typed as the name
	resp, _ := f.login(c, "alice", alicePassword, code)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	f.login(f.client(), "alice", alicePassword, code) // replay
	u, _ := url.Parse(f.srv.URL + "/veil/")
	for _, ck := range c.Jar.Cookies(u) {
		secrets = append(secrets, ck.Value)
	}
	f.get(c, "/veil/agent")
	f.get(f.client(), "/veil/agent", "Authorization", "Bearer "+testToken)
	f.get(f.client(), "/veil/agent", "Authorization", "Bearer "+testToken+"x")
	csrf := f.sessionCSRF(c)
	secrets = append(secrets, csrf)
	f.post(c, "/veil/logout", url.Values{"csrf_token": {csrf}})
	f.clock.Advance(time.Hour)

	logs := f.logs.String()
	for _, want := range []string{"agent logged in", "agent login denied", "agent token rejected", "agent logged out"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	var audit bytes.Buffer
	if err := f.vault.ExportAudit(context.Background(), &audit); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("log contains a secret (%d chars)", len(s))
		}
		if strings.Contains(audit.String(), s) {
			t.Errorf("audit trail contains a secret (%d chars)", len(s))
		}
	}
}
