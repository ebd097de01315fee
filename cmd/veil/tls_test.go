package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger(buf io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testCert is a self-signed certificate for names, as PEM.
func testCert(t *testing.T, serial int64, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: names[0]},
		DNSNames:              names,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

// writePair writes cert and key and moves their mtime to at, so a change is
// seen whatever the file system's timestamp granularity.
func writePair(t *testing.T, certPath, keyPath string, certPEM, keyPEM []byte, at time.Time) {
	t.Helper()
	for p, b := range map[string][]byte{certPath: certPEM, keyPath: keyPEM} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
}

// serveTLS serves h over TLS with cfg on a loopback port.
func serveTLS(t *testing.T, cfg *tls.Config, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: cfg, ErrorLog: slogErrorLog()}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// slogErrorLog drops net/http's own error log (failed handshakes are the
// point of some tests).
func slogErrorLog() *log.Logger {
	return log.New(io.Discard, "", 0)
}

func certPool(t *testing.T, pems ...[]byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	for _, b := range pems {
		if !p.AppendCertsFromPEM(b) {
			t.Fatal("bad PEM")
		}
	}
	return p
}

func TestFilesModeReload(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c1, k1 := testCert(t, 1, "veil.test")
	c2, k2 := testCert(t, 2, "veil.test")
	c3, k3 := testCert(t, 3, "veil.test")
	base := time.Now()
	writePair(t, certPath, keyPath, c1, k1, base)

	var logs syncBuffer
	setup, err := newTLS(t.Context(), tlsConfig{Mode: "files", Cert: certPath, Key: keyPath}, "", testLogger(&logs),
		tlsOptions{ReloadInterval: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	addr := serveTLS(t, setup.TLSConfig(), http.NotFoundHandler())
	roots := certPool(t, c1, c2, c3)

	serial := func() int64 {
		t.Helper()
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "veil.test"})
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}

	steps := []struct {
		name       string
		cert, key  []byte
		wantSerial int64
		wantLog    string
	}{
		{"initial pair", nil, nil, 1, "tls certificate loaded"},
		{"new pair is picked up", c2, k2, 2, "tls certificate loaded"},
		{"mismatched pair keeps the old certificate", c3, k1, 2, "keeping the current certificate"},
		{"garbage key keeps the old certificate", c3, []byte("not a key"), 2, "keeping the current certificate"},
		{"fixed pair is picked up", c3, k3, 3, "tls certificate loaded"},
	}
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before := len(logs.String())
			if s.cert != nil {
				writePair(t, certPath, keyPath, s.cert, s.key, base.Add(time.Duration(i)*time.Hour))
			}
			if got := serial(); got != s.wantSerial {
				t.Errorf("serving serial %d, want %d", got, s.wantSerial)
			}
			if i > 0 && !strings.Contains(logs.String()[before:], s.wantLog) {
				t.Errorf("log after step lacks %q:\n%s", s.wantLog, logs.String()[before:])
			}
		})
	}
}

func TestTLSVersionsAndSuites(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c, k := testCert(t, 1, "veil.test")
	writePair(t, certPath, keyPath, c, k, time.Now())
	setup, err := newTLS(t.Context(), tlsConfig{Mode: "files", Cert: certPath, Key: keyPath}, "", nil, tlsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	addr := serveTLS(t, setup.TLSConfig(), http.NotFoundHandler())
	roots := certPool(t, c)

	tests := []struct {
		name     string
		min, max uint16
		suites   []uint16
		wantErr  bool
	}{
		{"TLS 1.0 refused", tls.VersionTLS10, tls.VersionTLS10, nil, true},
		{"TLS 1.1 refused", tls.VersionTLS10, tls.VersionTLS11, nil, true},
		{"TLS 1.2 CBC suite refused", tls.VersionTLS12, tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}, true},
		{"TLS 1.2 GCM accepted", tls.VersionTLS12, tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, false},
		{"TLS 1.3 accepted", tls.VersionTLS13, tls.VersionTLS13, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", addr, &tls.Config{
				RootCAs: roots, ServerName: "veil.test",
				MinVersion: tt.min, MaxVersion: tt.max, CipherSuites: tt.suites,
				NextProtos: []string{"h2", "http/1.1"},
			})
			if tt.wantErr {
				if err == nil {
					conn.Close()
					t.Fatal("handshake succeeded, want refusal")
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer conn.Close()
			if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
				t.Errorf("ALPN %q, want h2", p)
			}
		})
	}
}

func TestValidateTLS(t *testing.T) {
	tests := []struct {
		name    string
		cfg     tlsConfig
		wantErr bool
	}{
		{"off", tlsConfig{Mode: "off"}, false},
		{"empty is off", tlsConfig{}, false},
		{"acme with domain", tlsConfig{Mode: "acme", Domains: []string{"chat.example.com"}}, false},
		{"acme on demand only", tlsConfig{Mode: "acme", OnDemandAllow: []string{"*.example.com"}}, false},
		{"acme without names", tlsConfig{Mode: "acme"}, true},
		{"acme wildcard domain", tlsConfig{Mode: "acme", Domains: []string{"*.example.com"}}, true},
		{"acme bad name", tlsConfig{Mode: "acme", Domains: []string{"https://chat.example.com"}}, true},
		{"acme plain http CA", tlsConfig{Mode: "acme", Domains: []string{"a.example"}, CA: "http://ca.example/dir"}, true},
		{"files without key", tlsConfig{Mode: "files", Cert: "c.pem"}, true},
		{"unknown mode", tlsConfig{Mode: "auto"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateTLS(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("validateTLS = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, errTLSConfig) {
				t.Errorf("error %v does not wrap errTLSConfig", err)
			}
		})
	}
}

func TestOnDemandAllowed(t *testing.T) {
	allow := []string{"chat.example.com", "*.tenants.example.com"}
	tests := []struct {
		name string
		want bool
	}{
		{"chat.example.com", true},
		{"CHAT.example.com.", true},
		{"a.tenants.example.com", true},
		{"tenants.example.com", false},
		{"a.b.tenants.example.com", false},
		{"evil.example.com", false},
		{"chat.example.com.evil.test", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := onDemandAllowed(allow, tt.name); got != tt.want {
				t.Errorf("onDemandAllowed(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestTLSOffWarning(t *testing.T) {
	tests := []struct {
		listen   string
		wantWarn bool
	}{
		{"127.0.0.1:8080", false},
		{"[::1]:8080", false},
		{"localhost:8080", false},
		{"127.0.0.2:8080", false},
		{":8080", true},
		{"0.0.0.0:8080", true},
		{"10.1.2.3:8080", true},
		{"[::]:8080", true},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			if got := tlsOffWarning(tt.listen); (got != "") != tt.wantWarn {
				t.Errorf("tlsOffWarning(%q) = %q, want warning %v", tt.listen, got, tt.wantWarn)
			}
		})
	}
}

func TestHTTPSRedirectAndHSTS(t *testing.T) {
	tests := []struct {
		name, host, target string
		port               int
		wantStatus         int
		wantLocation       string
	}{
		{"default port", "chat.example.com", "/api/x?a=1", 0, http.StatusPermanentRedirect, "https://chat.example.com/api/x?a=1"},
		{"strips http port", "chat.example.com:8080", "/", 443, http.StatusPermanentRedirect, "https://chat.example.com/"},
		{"custom https port", "chat.example.com:8080", "/p", 8443, http.StatusPermanentRedirect, "https://chat.example.com:8443/p"},
		{"ipv6", "[::1]:8080", "/", 0, http.StatusPermanentRedirect, "https://[::1]/"},
		{"bad host", "evil.test/@x", "/", 0, http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://placeholder"+tt.target, nil)
			r.Host = tt.host
			w := httptest.NewRecorder()
			httpsRedirect(tt.port).ServeHTTP(w, r)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", w.Code, tt.wantStatus)
			}
			if got := w.Header().Get("Location"); got != tt.wantLocation {
				t.Errorf("Location %q, want %q", got, tt.wantLocation)
			}
		})
	}

	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	plain := httptest.NewRecorder()
	hsts(ok).ServeHTTP(plain, httptest.NewRequest(http.MethodGet, "http://x/", nil))
	if plain.Header().Get("Strict-Transport-Security") != "" {
		t.Error("HSTS sent over plain HTTP")
	}
	secure := httptest.NewRecorder()
	hsts(ok).ServeHTTP(secure, httptest.NewRequest(http.MethodGet, "https://x/", nil))
	if got := secure.Header().Get("Strict-Transport-Security"); !strings.Contains(got, "max-age=") {
		t.Errorf("HSTS over TLS = %q", got)
	}
}

// pebble is a running Pebble ACME server.
type pebble struct {
	dir      string // Pebble's module directory (test certificates)
	acmeURL  string
	mgmtURL  string
	client   *http.Client // trusts Pebble's own HTTPS certificate
	httpPort int          // where Pebble sends HTTP-01 validations
	tlsPort  int          // where Pebble sends TLS-ALPN-01 validations
	output   *syncBuffer  // Pebble's log
}

// needPebble skips the test when Pebble cannot be built, unless
// VEIL_REQUIRE_PEBBLE=1.
func needPebble(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("VEIL_REQUIRE_PEBBLE") == "1" {
		t.Fatalf(format, args...)
	}
	t.Skipf("skipping the ACME test (set VEIL_REQUIRE_PEBBLE=1 to make this an error): "+format, args...)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startLoopbackDNS answers every A query with 127.0.0.1 and everything
// else with an empty answer, over UDP and TCP on the same loopback port.
func startLoopbackDNS(t *testing.T) string {
	t.Helper()
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		_ = w.WriteMsg(m)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range []*dns.Server{{Listener: ln, Handler: handler}, {PacketConn: pc, Handler: handler}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return ln.Addr().String()
}

// startPebble builds and runs Pebble on loopback ports, with its challenge
// ports set to httpPort and tlsPort and its DNS pointed at a loopback
// responder.
func startPebble(t *testing.T, httpPort, tlsPort int) *pebble {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		needPebble(t, "no go command to build Pebble: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-m", "-f", "{{.Dir}}", "github.com/letsencrypt/pebble/v2").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		needPebble(t, "locating the Pebble module: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "pebble")
	if out, err := exec.Command(goBin, "build", "-o", bin, "github.com/letsencrypt/pebble/v2/cmd/pebble").CombinedOutput(); err != nil {
		needPebble(t, "building Pebble: %v\n%s", err, out)
	}

	p := &pebble{dir: dir, httpPort: httpPort, tlsPort: tlsPort}
	acmePort, mgmtPort := freePort(t), freePort(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  "127.0.0.1:" + strconv.Itoa(acmePort),
		"managementListenAddress":        "127.0.0.1:" + strconv.Itoa(mgmtPort),
		"certificate":                    filepath.Join(dir, "test/certs/localhost/cert.pem"),
		"privateKey":                     filepath.Join(dir, "test/certs/localhost/key.pem"),
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"profiles": map[string]any{
			"default": map[string]any{"description": "test", "validityPeriod": 7776000},
		},
	}}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "pebble.json")
	if err := os.WriteFile(cfgPath, cfgJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	dnsAddr := startLoopbackDNS(t)
	cmd := exec.Command(bin, "-config", cfgPath, "-dnsserver", dnsAddr)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_VA_ALWAYS_VALID=0", "PEBBLE_WFE_NONCEREJECT=0")
	output := &syncBuffer{}
	p.output = output
	cmd.Stdout, cmd.Stderr = output, output
	if err := cmd.Start(); err != nil {
		needPebble(t, "starting Pebble: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("pebble output:\n%s", output.String())
		}
	})

	minica, err := os.ReadFile(filepath.Join(dir, "test/certs/pebble.minica.pem"))
	if err != nil {
		t.Fatal(err)
	}
	p.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: certPool(t, minica)},
	}}
	p.acmeURL = "https://localhost:" + strconv.Itoa(acmePort) + "/dir"
	p.mgmtURL = "https://localhost:" + strconv.Itoa(mgmtPort)

	// Pebble prints its addresses before it binds them: wait until both
	// answer, for a bounded time.
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for _, u := range []string{p.acmeURL, p.mgmtURL + "/roots/0"} {
		for {
			resp, err := p.client.Get(u)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("pebble did not come up at %s: %v\n%s", u, err, output.String())
			}
			<-tick.C
		}
	}
	return p
}

// root returns Pebble's current issuing root.
func (p *pebble) root(t *testing.T) []byte {
	t.Helper()
	resp, err := p.client.Get(p.mgmtURL + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("fetching pebble root: %v %d", err, resp.StatusCode)
	}
	return b
}

func TestACMEWithPebble(t *testing.T) {
	if testing.Short() && os.Getenv("VEIL_REQUIRE_PEBBLE") != "1" {
		t.Skip("skipping the ACME test in -short mode")
	}
	httpsPort, httpPort := freePort(t), freePort(t)
	p := startPebble(t, httpPort, httpsPort)
	caRoot := filepath.Join(p.dir, "test/certs/pebble.minica.pem")

	tests := []struct {
		name     string
		cfg      tlsConfig
		opts     tlsOptions
		sni      string // name the client asks for
		wantFail bool   // the handshake must fail (name not allowed)
	}{
		{
			name: "http-01",
			cfg:  tlsConfig{Mode: "acme", Domains: []string{"veil.test"}},
			opts: tlsOptions{DisableTLSALPNChallenge: true},
			sni:  "veil.test",
		},
		{
			name: "tls-alpn-01",
			cfg:  tlsConfig{Mode: "acme", Domains: []string{"alpn.veil.test"}},
			opts: tlsOptions{DisableHTTPChallenge: true},
			sni:  "alpn.veil.test",
		},
		{
			name: "on demand allowed name",
			cfg:  tlsConfig{Mode: "acme", OnDemandAllow: []string{"demand.veil.test"}},
			sni:  "demand.veil.test",
		},
		{
			name:     "on demand refuses other names",
			cfg:      tlsConfig{Mode: "acme", OnDemandAllow: []string{"demand.veil.test"}},
			sni:      "other.veil.test",
			wantFail: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.CA, cfg.CARoot, cfg.Email = p.acmeURL, caRoot, "ops@veil.test"
			opts := tt.opts
			opts.HTTPPort, opts.TLSALPNPort, opts.HTTPSPort = httpPort, httpsPort, httpsPort
			dataDir := t.TempDir()
			var logs syncBuffer
			setup, err := newTLS(t.Context(), cfg, dataDir, testLogger(&logs), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer setup.Close()

			httpsLn, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(httpsPort))
			if err != nil {
				t.Fatal(err)
			}
			httpLn, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(httpPort))
			if err != nil {
				t.Fatal(err)
			}
			app := hsts(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "hello over acme")
			}))
			srv := &http.Server{Handler: app, TLSConfig: setup.TLSConfig(), ErrorLog: slogErrorLog()}
			hsrv := &http.Server{Handler: setup.HTTPHandler(nil), ErrorLog: slogErrorLog()}
			go func() { _ = srv.ServeTLS(httpsLn, "", "") }()
			go func() { _ = hsrv.Serve(httpLn) }()
			defer hsrv.Close()
			defer srv.Close()

			ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
			defer cancel()
			if err := setup.Manage(ctx, true); err != nil {
				t.Fatalf("Manage: %v\nlogs:\n%s", err, logs.String())
			}

			client := &http.Client{
				Timeout: 60 * time.Second,
				Transport: &http.Transport{
					TLSClientConfig: &tls.Config{RootCAs: certPool(t, p.root(t)), ServerName: tt.sni},
					DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
						return (&net.Dialer{}).DialContext(ctx, network, httpsLn.Addr().String())
					},
					ForceAttemptHTTP2: true,
				},
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			}
			resp, err := client.Get("https://" + tt.sni + ":" + strconv.Itoa(httpsPort) + "/")
			if tt.wantFail {
				if err == nil {
					resp.Body.Close()
					t.Fatal("handshake for a name outside on_demand_allow succeeded")
				}
				if certs, _ := filepath.Glob(filepath.Join(dataDir, "certs", "certificates", "*", "*", "*.crt")); len(certs) != 0 {
					t.Errorf("certificates stored for a refused name: %v", certs)
				}
				if strings.Contains(p.output.String(), tt.sni) {
					t.Errorf("the CA was asked about %s", tt.sni)
				}
				return
			}
			if err != nil {
				t.Fatalf("GET over HTTPS: %v\nlogs:\n%s", err, logs.String())
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != "hello over acme" {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			leaf := resp.TLS.PeerCertificates[0]
			if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != tt.sni {
				t.Errorf("certificate names %v, want [%s]", leaf.DNSNames, tt.sni)
			}
			if resp.Header.Get("Strict-Transport-Security") == "" {
				t.Error("no HSTS header over HTTPS")
			}
			if resp.TLS.Version < tls.VersionTLS12 {
				t.Errorf("negotiated TLS version %x", resp.TLS.Version)
			}
			certs, _ := filepath.Glob(filepath.Join(dataDir, "certs", "certificates", "*", tt.sni, "*.crt"))
			if len(certs) != 1 {
				t.Errorf("stored certificates for %s: %v", tt.sni, certs)
			}

			// The HTTP listener redirects what is not a challenge.
			req, _ := http.NewRequest(http.MethodGet, "http://"+httpLn.Addr().String()+"/chat?x=1", nil)
			req.Host = tt.sni
			plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			hresp, err := plain.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			hresp.Body.Close()
			want := "https://" + tt.sni + ":" + strconv.Itoa(httpsPort) + "/chat?x=1"
			if hresp.StatusCode != http.StatusPermanentRedirect || hresp.Header.Get("Location") != want {
				t.Errorf("http listener: %d %q, want 308 %q", hresp.StatusCode, hresp.Header.Get("Location"), want)
			}

			// A restart finds the certificate under data_dir and orders
			// nothing new.
			if len(cfg.Domains) == 0 {
				return
			}
			orders := strings.Count(p.output.String(), "Added order")
			again, err := newTLS(t.Context(), cfg, dataDir, testLogger(&logs), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer again.Close()
			if err := again.Manage(ctx, true); err != nil {
				t.Fatalf("Manage after restart: %v", err)
			}
			cert, err := again.TLSConfig().GetCertificate(&tls.ClientHelloInfo{ServerName: tt.sni})
			if err != nil || cert.Leaf == nil || !cert.Leaf.Equal(leaf) {
				t.Errorf("after restart: %v, same certificate %v", err, err == nil && cert.Leaf != nil && cert.Leaf.Equal(leaf))
			}
			if n := strings.Count(p.output.String(), "Added order"); n != orders {
				t.Errorf("restart placed %d new orders", n-orders)
			}
			if strings.Contains(logs.String(), "PRIVATE KEY") {
				t.Error("a private key reached the log")
			}
		})
	}
}
