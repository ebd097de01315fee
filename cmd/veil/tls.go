package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// hstsValue is the Strict-Transport-Security header Veil sends over HTTPS:
// one year, this host only (subdomains may be served by something else).
const hstsValue = "max-age=31536000"

// defaultReloadInterval is how often, at most, files mode looks at the
// certificate and key files for a change.
const defaultReloadInterval = 5 * time.Second

// errTLSConfig marks a tls: section that cannot be used.
var errTLSConfig = errors.New("invalid tls config")

// tlsOptions are the settings of the TLS setup that do not come from the
// config file: the ports the challenge servers listen on and test knobs.
// Zero values mean the defaults.
type tlsOptions struct {
	// HTTPPort is the port HTTP-01 challenges are answered on (default 80).
	// Set it to the port of tls.http_listen when a port forward puts the
	// public port 80 elsewhere.
	HTTPPort int
	// TLSALPNPort is the port TLS-ALPN-01 challenges are answered on
	// (default 443): the port of the HTTPS listener.
	TLSALPNPort int
	// HTTPSPort is the port HTTP requests are redirected to (default 443).
	HTTPSPort int
	// DisableHTTPChallenge and DisableTLSALPNChallenge turn one ACME
	// challenge type off.
	DisableHTTPChallenge    bool
	DisableTLSALPNChallenge bool
	// ReloadInterval is how often, at most, files mode checks the files
	// (default 5s); the check happens during a handshake.
	ReloadInterval time.Duration
}

// tlsSetup is the TLS side of the public listener: certificates from an ACME
// CA (mode acme) or from files (mode files), or none (mode off).
type tlsSetup struct {
	mode      string
	domains   []string
	httpsPort int
	logger    *slog.Logger

	// acme mode
	magic  *certmagic.Config
	cache  *certmagic.Cache
	issuer *certmagic.ACMEIssuer

	// files mode
	files *certReloader

	closeOnce sync.Once
}

// validateTLS checks the tls: section for the chosen mode.
func validateTLS(cfg tlsConfig) error {
	var errs []error
	switch cfg.Mode {
	case "", "off":
	case "acme":
		if len(cfg.Domains) == 0 && len(cfg.OnDemandAllow) == 0 {
			errs = append(errs, fmt.Errorf("tls.domains: required in acme mode (or tls.on_demand_allow)"))
		}
		for _, d := range cfg.Domains {
			if strings.Contains(d, "*") {
				errs = append(errs, fmt.Errorf("tls.domains: %q: wildcard certificates need the DNS challenge, which Veil does not do; list the names, or use tls.on_demand_allow", d))
			}
		}
		for _, d := range append(append([]string(nil), cfg.Domains...), cfg.OnDemandAllow...) {
			if d == "" || strings.ContainsAny(d, " /:@") {
				errs = append(errs, fmt.Errorf("tls: %q is not a domain name", d))
			}
		}
		if cfg.CA != "" && !strings.HasPrefix(cfg.CA, "https://") {
			errs = append(errs, fmt.Errorf("tls.ca: must be an https:// ACME directory URL"))
		}
	case "files":
		if cfg.Cert == "" {
			errs = append(errs, fmt.Errorf("tls.cert: required in files mode"))
		}
		if cfg.Key == "" {
			errs = append(errs, fmt.Errorf("tls.key: required in files mode"))
		}
	default:
		errs = append(errs, fmt.Errorf("tls.mode: %q is not acme, files or off", cfg.Mode))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", errTLSConfig, err)
	}
	return nil
}

// newTLS prepares TLS for the public listener. In acme mode certificates
// live under dataDir/certs; nothing is requested until Manage is called, so
// the caller can bind its listeners first (the challenge servers share them).
// In off mode it returns a setup whose TLSConfig is nil.
func newTLS(_ context.Context, cfg tlsConfig, dataDir string, logger *slog.Logger, opts tlsOptions) (*tlsSetup, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := validateTLS(cfg); err != nil {
		return nil, err
	}
	t := &tlsSetup{mode: cfg.Mode, logger: logger, httpsPort: opts.HTTPSPort}
	if t.mode == "" {
		t.mode = "off"
	}
	switch t.mode {
	case "acme":
		if err := t.setupACME(cfg, dataDir, opts); err != nil {
			return nil, err
		}
	case "files":
		interval := opts.ReloadInterval
		if interval <= 0 {
			interval = defaultReloadInterval
		}
		r, err := newCertReloader(cfg.Cert, cfg.Key, interval, logger)
		if err != nil {
			return nil, err
		}
		t.files = r
	}
	return t, nil
}

func (t *tlsSetup) setupACME(cfg tlsConfig, dataDir string, opts tlsOptions) error {
	if dataDir == "" {
		return fmt.Errorf("%w: data_dir: required for acme certificates", errTLSConfig)
	}
	var roots *x509.CertPool
	if cfg.CARoot != "" {
		pem, err := os.ReadFile(cfg.CARoot)
		if err != nil {
			return fmt.Errorf("reading tls.ca_root: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%w: tls.ca_root: no PEM certificate in %s", errTLSConfig, cfg.CARoot)
		}
	}
	zl := zap.New(newSlogCore(t.logger.Handler()))
	t.domains = append([]string(nil), cfg.Domains...)

	var magic *certmagic.Config
	t.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return magic, nil },
		Logger:           zl,
	})
	mc := certmagic.Config{
		Storage: &certmagic.FileStorage{Path: filepath.Join(dataDir, "certs")},
		Logger:  zl,
		// OCSP is being retired by public CAs; stapling only adds fetches.
		OCSP: certmagic.OCSPConfig{DisableStapling: true},
	}
	if len(cfg.Domains) > 0 {
		mc.DefaultServerName = cfg.Domains[0]
	}
	if len(cfg.OnDemandAllow) > 0 {
		allow := append([]string(nil), cfg.OnDemandAllow...)
		mc.OnDemand = &certmagic.OnDemandConfig{
			DecisionFunc: func(_ context.Context, name string) error {
				if onDemandAllowed(allow, name) {
					return nil
				}
				return fmt.Errorf("on-demand certificate for %q: not in tls.on_demand_allow", name)
			},
		}
	}
	magic = certmagic.New(t.cache, mc)
	t.issuer = certmagic.NewACMEIssuer(magic, certmagic.ACMEIssuer{
		CA:                      cfg.CA,
		Email:                   cfg.Email,
		Agreed:                  true, // configuring a CA means accepting its subscriber terms
		TrustedRoots:            roots,
		AltHTTPPort:             opts.HTTPPort,
		AltTLSALPNPort:          opts.TLSALPNPort,
		DisableHTTPChallenge:    opts.DisableHTTPChallenge,
		DisableTLSALPNChallenge: opts.DisableTLSALPNChallenge,
		Logger:                  zl,
	})
	magic.Issuers = []certmagic.Issuer{t.issuer}
	t.magic = magic
	return nil
}

// onDemandAllowed reports whether name is in the allow-list: exact names,
// or "*.example.com" for one label under example.com.
func onDemandAllowed(allow []string, name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for _, a := range allow {
		a = strings.ToLower(a)
		if a == name || (strings.HasPrefix(a, "*.") && certmagic.MatchWildcard(name, a)) {
			return true
		}
	}
	return false
}

// Manage starts obtaining and renewing the configured domains' certificates
// (acme mode; a no-op otherwise). With wait, it returns once every domain
// has a certificate; without, issuance and renewal run in the background.
// Call it after the HTTPS and HTTP listeners are bound: the challenges are
// answered on them. Background work stops at Close.
func (t *tlsSetup) Manage(ctx context.Context, wait bool) error {
	if t.magic == nil || len(t.domains) == 0 {
		return nil
	}
	var err error
	if wait {
		err = t.magic.ManageSync(ctx, t.domains)
	} else {
		err = t.magic.ManageAsync(ctx, t.domains)
	}
	if err != nil {
		return fmt.Errorf("managing certificates: %w", err)
	}
	return nil
}

// Mode is acme, files or off.
func (t *tlsSetup) Mode() string { return t.mode }

// TLSConfig is the server-side TLS configuration: TLS 1.2 at least, AEAD
// cipher suites only for 1.2, HTTP/2 and HTTP/1.1, and acme-tls/1 for the
// TLS-ALPN-01 challenge in acme mode. It is nil in off mode.
func (t *tlsSetup) TLSConfig() *tls.Config {
	var c *tls.Config
	switch t.mode {
	case "acme":
		c = modernTLS()
		c.GetCertificate = t.magic.GetCertificate
		c.NextProtos = []string{"h2", "http/1.1", "acme-tls/1"}
	case "files":
		c = modernTLS()
		c.GetCertificate = t.files.GetCertificate
		c.NextProtos = []string{"h2", "http/1.1"}
	}
	return c
}

// modernTLS is the protocol floor shared by every mode.
func modernTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// TLS 1.3 suites are not configurable and all AEAD; these apply
		// to 1.2 only.
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}

// HTTPHandler is the handler for tls.http_listen: it answers ACME HTTP-01
// challenges (acme mode) and hands every other request to next, or, when
// next is nil, redirects it to HTTPS with a 308. In off mode it returns
// next unchanged.
func (t *tlsSetup) HTTPHandler(next http.Handler) http.Handler {
	if t.mode == "off" {
		if next == nil {
			return http.NotFoundHandler()
		}
		return next
	}
	if next == nil {
		next = httpsRedirect(t.httpsPort)
	}
	if t.issuer != nil {
		return t.issuer.HTTPChallengeHandler(next)
	}
	return next
}

// httpsRedirect sends a request to the same host and path over HTTPS on
// port (0 or 443: the default port).
func httpsRedirect(port int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" || strings.ContainsAny(host, "/\\@ ") {
			http.Error(w, "bad request: missing or invalid Host", http.StatusBadRequest)
			return
		}
		if port != 0 && port != 443 {
			host = net.JoinHostPort(host, strconv.Itoa(port))
		} else if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		w.Header().Set("Connection", "close")
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}

// Close stops certificate maintenance. Safe to call more than once.
func (t *tlsSetup) Close() {
	t.closeOnce.Do(func() {
		if t.cache != nil {
			t.cache.Stop()
		}
	})
}

// hsts adds Strict-Transport-Security to responses served over TLS.
func hsts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", hstsValue)
		}
		next.ServeHTTP(w, r)
	})
}

// tlsOffWarning returns a warning for running without TLS on listen, or ""
// when listen is a loopback address (local use, or a TLS terminator on the
// same host).
func tlsOffWarning(listen string) string {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		host = listen
	}
	if isLoopbackHost(host) {
		return ""
	}
	where := host
	if where == "" {
		where = "every interface"
	}
	return fmt.Sprintf("tls.mode is off and %s listens on %s: traffic is unencrypted unless a TLS terminator sits in front; set tls.mode to acme or files, or listen on a loopback address", listen, where)
}

// isLoopbackHost reports whether host (a name or IP, without port) can only
// be reached from this machine.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// certReloader serves a certificate from files and picks up new files at
// handshake time, at most once per interval. A pair that fails to load is
// logged and the previous certificate keeps serving.
type certReloader struct {
	certPath, keyPath string
	interval          time.Duration
	logger            *slog.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     fileStamp // of the files last tried
	lastCheck time.Time
}

// fileStamp identifies a version of the certificate and key files.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

func statPair(certPath, keyPath string) (fileStamp, error) {
	c, err := os.Stat(certPath)
	if err != nil {
		return fileStamp{}, err
	}
	k, err := os.Stat(keyPath)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{certMod: c.ModTime(), keyMod: k.ModTime(), certSize: c.Size(), keySize: k.Size()}, nil
}

func newCertReloader(certPath, keyPath string, interval time.Duration, logger *slog.Logger) (*certReloader, error) {
	stamp, err := statPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("tls files: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("tls files: loading certificate and key: %w", err)
	}
	r := &certReloader{certPath: certPath, keyPath: keyPath, interval: interval, logger: logger,
		cert: &cert, stamp: stamp, lastCheck: time.Now()}
	r.logLoaded(&cert)
	return r, nil
}

func (r *certReloader) logLoaded(c *tls.Certificate) {
	if c.Leaf == nil {
		return
	}
	r.logger.Info("tls certificate loaded", "names", c.Leaf.DNSNames, "not_after", c.Leaf.NotAfter)
	if time.Now().After(c.Leaf.NotAfter) {
		r.logger.Warn("tls certificate has expired", "not_after", c.Leaf.NotAfter)
	}
}

// GetCertificate is tls.Config.GetCertificate for files mode.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.lastCheck) >= r.interval {
		r.reloadLocked()
	}
	return r.cert, nil
}

// reloadLocked loads the files again if they changed since the last try.
func (r *certReloader) reloadLocked() {
	r.lastCheck = time.Now()
	stamp, err := statPair(r.certPath, r.keyPath)
	if err != nil {
		if stamp != r.stamp {
			r.logger.Error("tls files: keeping the current certificate", "error", err)
		}
		r.stamp = stamp
		return
	}
	if stamp == r.stamp {
		return
	}
	r.stamp = stamp
	cert, err := tls.LoadX509KeyPair(r.certPath, r.keyPath)
	if err != nil {
		r.logger.Error("tls files: new certificate and key do not load; keeping the current certificate", "error", err)
		return
	}
	r.cert = &cert
	r.logLoaded(&cert)
}
