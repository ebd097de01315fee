package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/veilproxy/veil/proxy"
)

// TestServeObtainsCertificateFromPebble runs veil serve in acme mode against
// a real ACME server: Veil answers the challenges on its own listeners,
// obtains a certificate, proxies over HTTPS with HSTS, masks as usual, and
// redirects plain HTTP to HTTPS.
func TestServeObtainsCertificateFromPebble(t *testing.T) {
	httpsPort, httpPort := freePort(t), freePort(t)
	p := startPebble(t, httpPort, httpsPort)

	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer upstream.Close()

	dataDir := t.TempDir()
	cfg := &fileConfig{
		Listen:   "127.0.0.1:" + strconv.Itoa(httpsPort),
		Upstream: upstream.URL,
		DataDir:  dataDir,
		TLS: tlsConfig{
			Mode:       "acme",
			Domains:    []string{"serve.veil.test"},
			Email:      "ops@veil.test",
			CA:         p.acmeURL,
			CARoot:     filepath.Join(p.dir, "test/certs/pebble.minica.pem"),
			HTTPListen: "127.0.0.1:" + strconv.Itoa(httpPort),
		},
		Routes: []proxy.Route{{Match: proxy.Match{Path: "/api/messages"}, Body: "json"}},
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	key := make([]byte, 32)
	srv, err := startServer(t.Context(), cfg, serverOptions{Logger: testLogger(&logs), MasterKey: key, AdminListener: adminLn})
	if err != nil {
		t.Fatalf("startServer: %v", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()

	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: certPool(t, p.root(t)), ServerName: "serve.veil.test"},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, "127.0.0.1:"+strconv.Itoa(httpsPort))
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	// Issuance runs in the background; poll until the certificate is served.
	url := "https://serve.veil.test/api/messages"
	const message = `{"text":"card 4111 1111 1111 1111 please"}`
	var resp *http.Response
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err = client.Post(url, "application/json", strings.NewReader(message))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTPS with an ACME certificate by the deadline: %v\nlogs:\n%s", err, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "4111 1111 1111 1111") || !strings.Contains(string(body), "1111") {
		t.Errorf("card not masked over HTTPS: %s", body)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); hsts == "" {
		t.Error("no HSTS header over HTTPS")
	}
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("connection state %+v", resp.TLS)
	}

	plain := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := plain.Get("http://127.0.0.1:" + strconv.Itoa(httpPort) + "/api/messages")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusPermanentRedirect || !strings.HasPrefix(r.Header.Get("Location"), "https://") {
		t.Errorf("plain HTTP got %d to %q, want a 308 to https", r.StatusCode, r.Header.Get("Location"))
	}
}
