package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/term"

	"github.com/veilproxy/veil/detectors"
	"github.com/veilproxy/veil/forms"
	"github.com/veilproxy/veil/forms/agent"
	"github.com/veilproxy/veil/proxy"
	"github.com/veilproxy/veil/vault"
)

// shutdownGrace bounds how long SIGTERM waits for requests, streams and
// vault writes to finish.
const shutdownGrace = 20 * time.Second

func cmdServe(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Err)
	configPath := fs.String("config", "veil.yaml", "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// Catch SIGHUP from the start: its default action would end the
	// process if one arrived while it starts.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg, err := loadConfig(*configPath)
	if err != nil {
		fmt.Fprintf(io.Err, "veil serve: %v\n", err)
		return 2
	}
	logger, err := newLogger(cfg.Log, io.Err, isTerminal(io.Err))
	if err != nil {
		fmt.Fprintf(io.Err, "veil serve: %v\n", err)
		return 2
	}
	key, err := vault.LoadMasterKey(cfg.Vault.Key, io.Getenv)
	if err != nil {
		fmt.Fprintf(io.Err, "veil serve: %v\nmake a master key with: veil vault new-master-key\n", err)
		return 2
	}
	// Process-wide, so here rather than in startServer, which tests call
	// many times in one process.
	defer proxy.TuneGC()()
	srv, err := startServer(ctx, cfg, serverOptions{Logger: logger, MasterKey: key})
	if err != nil {
		fmt.Fprintf(io.Err, "veil serve: %v\n", err)
		return 1
	}
	logger.Info("veil serving", "listen", srv.PublicAddr(), "admin", srv.AdminAddr())

	stopWatch := srv.watchConfig(ctx, *configPath)
	defer stopWatch()
	for {
		select {
		case <-hup:
			_ = srv.reload(*configPath, "signal") // logged and counted by reload
		case <-ctx.Done():
			stopWatch() // no reload once draining has begun
			sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
			err := srv.Shutdown(sctx)
			cancel()
			if err != nil {
				logger.Error("shutdown incomplete", "err", err)
				return 1
			}
			logger.Info("veil stopped")
			return 0
		}
	}
}

// serverOptions tune startServer for tests and the demo.
type serverOptions struct {
	Logger    *slog.Logger
	MasterKey []byte
	// PublicListener and AdminListener, when set, are used instead of
	// listening on cfg.Listen and cfg.AdminListen.
	PublicListener net.Listener
	AdminListener  net.Listener
	TLS            tlsOptions
	// Wrap, when set, wraps the public handler (the demo's sign-on stand-in).
	Wrap func(http.Handler) http.Handler
}

// server is a running Veil: listeners, the vault, and the current
// generation of config-derived handlers, swapped atomically on reload.
type server struct {
	logger  *slog.Logger
	vault   *vault.Vault
	metrics *metrics
	tls     *tlsSetup

	current  atomic.Pointer[generation]
	mu       sync.Mutex
	all      []*generation // the current generation and every older one still serving streams
	reloadMu sync.Mutex    // one reload at a time (signal and watcher)
	stopping atomic.Bool   // set by Shutdown: /readyz fails while draining

	public, admin         *http.Server
	redirect              *http.Server // tls.http_listen: HTTP-01 challenges and the redirect to HTTPS
	publicAddr, adminAddr string
	background            context.CancelFunc
	wg                    sync.WaitGroup

	// watchEvery is how often watchConfig checks the file (0: every
	// defaultWatchEvery).
	watchEvery time.Duration
}

// generation is everything built from one version of the config. Streams
// opened on a generation finish on it after a reload.
type generation struct {
	cfg     *fileConfig
	engine  *detectors.Engine
	proxy   *proxy.Proxy
	forms   *forms.Server
	auth    *agent.Auth
	handler http.Handler

	// active counts requests and streams in flight on this generation;
	// retired is set once it is no longer current, after which no new
	// request starts on it (see serveCurrent and pruneGenerations).
	active  atomic.Int64
	retired atomic.Bool
}

// startServer opens the vault, builds the first generation from cfg, and
// serves the public and admin listeners until Shutdown. On error nothing
// is left running.
func startServer(ctx context.Context, cfg *fileConfig, opts serverOptions) (*server, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data_dir: %w", err)
	}
	v, err := vault.Open(ctx, cfg.DataDir, opts.MasterKey, vault.Options{Retention: cfg.Vault.Retention, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("opening vault: %w", err)
	}
	s := &server{logger: logger, vault: v, metrics: newMetrics()}
	gen, err := s.build(cfg)
	if err != nil {
		v.Close()
		return nil, err
	}
	s.current.Store(gen)
	s.all = append(s.all, gen)

	var handler http.Handler = http.HandlerFunc(s.serveCurrent)
	if opts.Wrap != nil {
		handler = opts.Wrap(handler)
	}
	handler = withRequestID(handler, logger)

	bg, cancel := context.WithCancel(context.Background())
	s.background = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.runPurger(bg, time.Minute)
	}()

	tlsMode := cfg.TLS.Mode
	if tlsMode == "" {
		tlsMode = "off"
	}
	if tlsMode != "off" {
		t, err := newTLS(ctx, cfg.TLS, cfg.DataDir, logger, challengePorts(cfg, opts))
		if err != nil {
			s.closeAll()
			return nil, fmt.Errorf("setting up tls: %w", err)
		}
		s.tls = t
		handler = hsts(handler)
	} else if w := tlsOffWarning(cfg.Listen); w != "" {
		logger.Warn(w)
	}

	s.public = proxy.NewServer(handler, slog.NewLogLogger(logger.Handler(), slog.LevelWarn))
	ln := opts.PublicListener
	if ln == nil {
		listen := cfg.Listen
		if listen == "" {
			listen = "127.0.0.1:8080"
		}
		if ln, err = net.Listen("tcp", listen); err != nil {
			s.closeAll()
			return nil, fmt.Errorf("listening on %s: %w", listen, err)
		}
	}
	s.publicAddr = ln.Addr().String()
	if s.tls != nil {
		s.public.TLSConfig = s.tls.TLSConfig()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		var err error
		if s.tls != nil {
			err = s.public.ServeTLS(ln, "", "")
		} else {
			err = s.public.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("public listener stopped", "err", err)
		}
	}()
	if s.tls != nil {
		if err := s.startTLS(bg, cfg); err != nil {
			s.Shutdown(context.Background())
			return nil, err
		}
	}

	adminLn := opts.AdminListener
	if adminLn == nil {
		listen := cfg.AdminListen
		if listen == "" {
			listen = "127.0.0.1:9090"
		}
		if adminLn, err = net.Listen("tcp", listen); err != nil {
			s.Shutdown(context.Background())
			return nil, fmt.Errorf("listening on admin %s: %w", listen, err)
		}
	}
	s.adminAddr = adminLn.Addr().String()
	s.admin = &http.Server{Handler: adminMux(s.metrics, s.ready), ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.admin.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("admin listener stopped", "err", err)
		}
	}()
	return s, nil
}

// build compiles one config into handlers. It touches nothing shared, so a
// failed reload leaves the running generation alone.
func (s *server) build(cfg *fileConfig) (*generation, error) {
	eng, err := detectors.Compile(cfg.Detectors)
	if err != nil {
		return nil, fmt.Errorf("compiling rules: %w", err)
	}
	auth, fs, err := s.buildAgentsAndForms(cfg)
	if err != nil {
		return nil, err
	}
	px, err := proxy.New(proxy.Config{Upstream: cfg.Upstream, Routes: cfg.Routes, Limits: cfg.Limits}, proxy.Options{
		Engine:        eng,
		NewDiverter:   fs.NewDiverter,
		SecureCommand: fs.SecureCommand,
		Observer:      s.metrics,
		Logger:        s.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	mux := http.NewServeMux()
	fs.Routes(mux)
	auth.Routes(mux)
	mux.Handle("/", px)
	handler := countReveals(mux, s.metrics)
	return &generation{cfg: cfg, engine: eng, proxy: px, forms: fs, auth: auth, handler: handler}, nil
}

// serveCurrent serves r on the current generation and counts it in flight
// there until it ends, WebSocket and SSE streams included.
func (s *server) serveCurrent(w http.ResponseWriter, r *http.Request) {
	for {
		g := s.current.Load()
		g.active.Add(1)
		if g.retired.Load() {
			// A reload swapped g out between the load and the count:
			// start on the new current generation instead.
			g.active.Add(-1)
			continue
		}
		defer g.active.Add(-1)
		g.handler.ServeHTTP(w, r)
		return
	}
}

// pruneGenerations retires every generation but the current one and
// forgets those with nothing left in flight, closing their idle upstream
// connections. Older generations with open streams stay until the streams
// end.
func (s *server) pruneGenerations() {
	s.mu.Lock()
	cur := s.current.Load()
	keep := s.all[:0]
	var done []*generation
	for _, g := range s.all {
		if g != cur {
			// Retire before reading active: a request that counted
			// itself after this sees retired and moves to cur.
			g.retired.Store(true)
			if g.active.Load() == 0 {
				done = append(done, g)
				continue
			}
		}
		keep = append(keep, g)
	}
	clear(s.all[len(keep):])
	s.all = keep
	s.mu.Unlock()
	for _, g := range done {
		// Nothing in flight: returns at once.
		_ = g.proxy.Shutdown(context.Background())
	}
}

// buildAgentsAndForms returns the agent access and forms server for cfg.
// When a reload leaves forms, agents and public_url as they were, the
// running ones are kept. Otherwise a reload keeps agents signed in, and
// keeps the rate limits, the TOTP replay guard and the CSRF key, by
// deriving the new Auth from the old; the new forms server takes over the
// links the agent inbox lists (held in memory only).
func (s *server) buildAgentsAndForms(cfg *fileConfig) (*agent.Auth, *forms.Server, error) {
	prev := s.current.Load()
	if prev != nil && prev.cfg.PublicURL == cfg.PublicURL &&
		sameYAML(prev.cfg.Forms, cfg.Forms) && sameYAML(prev.cfg.Agents, cfg.Agents) {
		return prev.auth, prev.forms, nil
	}
	var auth *agent.Auth
	var err error
	if prev != nil {
		auth, err = prev.auth.WithConfig(cfg.Agents)
	} else {
		auth, err = agent.New(cfg.Agents, s.vault, s.vault, agent.Options{Logger: s.logger, SecureCookies: cfg.TLS.Mode == "acme" || cfg.TLS.Mode == "files"})
	}
	if err != nil {
		return nil, nil, fmt.Errorf("agents: %w", err)
	}
	specs := cfg.Forms
	if len(specs) == 0 {
		specs = forms.DefaultForms()
	}
	opts := forms.Options{Vault: s.vault, Auth: auth, PublicURL: cfg.PublicURL, Logger: s.logger}
	if prev != nil {
		opts.Previous = prev.forms
	}
	fs, err := forms.New(specs, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("forms: %w", err)
	}
	return auth, fs, nil
}

// sameYAML reports whether a and b are written the same in YAML (which
// leaves out where in the file they were written).
func sameYAML(a, b any) bool {
	x, err1 := yaml.Marshal(a)
	y, err2 := yaml.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// runPurger deletes expired records now and then every interval until ctx
// is done, and keeps the purge and record metrics current.
func (s *server) runPurger(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := s.vault.Purge(ctx)
		if err != nil && ctx.Err() == nil {
			s.logger.Error("vault purge failed", "err", err)
		}
		s.metrics.Purged("expired", n)
		if c, err := s.vault.Count(ctx); err == nil {
			s.metrics.VaultRecords(c)
		}
		s.pruneGenerations()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// revealPrefix is the path of one-time reveal links.
const revealPrefix = "/veil/r/"

// countReveals counts reveal attempts (POST /veil/r/{token}) by outcome,
// read from the response status: ok, gone (unknown, used or expired, which
// the reveal page does not tell apart), denied, throttled, waiting (a form
// not yet sent) or error.
func countReveals(next http.Handler, m *metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, revealPrefix) {
			next.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		m.RevealAttempt(revealOutcome(rec.status))
	})
}

func revealOutcome(status int) string {
	switch status {
	case 0, http.StatusOK:
		return "ok"
	case http.StatusNotFound, http.StatusGone:
		return "gone"
	case http.StatusUnauthorized, http.StatusForbidden:
		return "denied"
	case http.StatusTooManyRequests:
		return "throttled"
	case http.StatusConflict:
		return "waiting"
	}
	return "error"
}

// reload loads the config again and swaps it in; on any error the running
// config keeps serving and the error is returned (and logged, and counted).
// Rules, routes, limits, forms and agents take effect at once, for new
// requests and streams; streams already open finish on the generation they
// started with. Listeners, TLS, data_dir, the vault and logging are set up
// once at start: a change to them is logged as needing a restart and
// otherwise ignored.
func (s *server) reload(path, why string) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	cfg, err := loadConfig(path)
	if err == nil {
		var gen *generation
		gen, err = s.build(cfg)
		if err == nil {
			s.mu.Lock()
			prev := s.current.Load()
			s.current.Store(gen)
			s.all = append(s.all, gen)
			s.mu.Unlock()
			s.pruneGenerations()
			s.metrics.ConfigReload("ok")
			s.logger.Info("config reloaded", "trigger", why)
			if keys := restartOnly(prev.cfg, cfg); len(keys) > 0 {
				s.logger.Warn("config changes that need a restart were not applied; restart veil to apply them",
					"trigger", why, "keys", keys)
			}
			return nil
		}
	}
	s.metrics.ConfigReload("error")
	s.logger.Error("config reload rejected; previous config still serving", "trigger", why, "err", err)
	return err
}

// restartOnly names the top-level keys that differ between old and new but
// are applied only at start.
func restartOnly(old, cfg *fileConfig) []string {
	if old == nil || cfg == nil {
		return nil
	}
	var keys []string
	add := func(changed bool, key string) {
		if changed {
			keys = append(keys, key)
		}
	}
	add(old.Listen != cfg.Listen, "listen")
	add(old.AdminListen != cfg.AdminListen, "admin_listen")
	add(!reflect.DeepEqual(old.TLS, cfg.TLS), "tls")
	add(old.DataDir != cfg.DataDir, "data_dir")
	add(!reflect.DeepEqual(old.Vault, cfg.Vault), "vault")
	add(old.Log != cfg.Log, "log")
	return keys
}

// defaultWatchEvery is how often watchConfig looks at the config file.
const defaultWatchEvery = 2 * time.Second

// watchConfig reloads when the config file changes (its modification time
// or size), checking every s.watchEvery. A file caught half-written is
// rejected like any invalid config and picked up again once complete.
func (s *server) watchConfig(ctx context.Context, path string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	every := s.watchEvery
	if every <= 0 {
		every = defaultWatchEvery
	}
	last := configFileStamp(path)
	t := time.NewTicker(every)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if m := configFileStamp(path); m != last {
					last = m
					_ = s.reload(path, "file") // logged and counted by reload
				}
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// configStamp identifies one version of the config file.
type configStamp struct {
	mod  time.Time
	size int64
}

func configFileStamp(path string) configStamp {
	st, err := os.Stat(path)
	if err != nil {
		return configStamp{}
	}
	return configStamp{mod: st.ModTime(), size: st.Size()}
}

// ready reports what keeps Veil from serving: the vault, the upstream, the
// config, or a shutdown under way. Each failure is a readyError naming its check, so /readyz can
// name it without sending the error text.
func (s *server) ready(ctx context.Context) error {
	if s.stopping.Load() {
		return notReady("shutdown", errors.New("shutting down"))
	}
	gen := s.current.Load()
	if gen == nil {
		return notReady("config", errors.New("not loaded"))
	}
	var errs []error
	if err := s.vault.Check(ctx); err != nil {
		errs = append(errs, notReady("vault", err))
	}
	if err := upstreamReachable(ctx, gen.cfg.Upstream); err != nil {
		errs = append(errs, notReady("upstream", err))
	}
	return errors.Join(errs...)
}

// upstreamReachable dials the upstream's host and port.
func upstreamReachable(ctx context.Context, upstream string) error {
	u, err := url.Parse(upstream)
	if err != nil || u.Host == "" {
		return errors.New("not configured")
	}
	host := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			host = net.JoinHostPort(u.Hostname(), "443")
		} else {
			host = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "tcp", host)
	if err != nil {
		return errors.New("unreachable")
	}
	return c.Close()
}

// PublicAddr is the address the proxy listens on.
func (s *server) PublicAddr() string { return s.publicAddr }

// AdminAddr is the address of /metrics, /healthz and /readyz.
func (s *server) AdminAddr() string { return s.adminAddr }

// Shutdown stops accepting, drains HTTP, closes WebSockets with 1001, ends
// SSE streams, finishes vault writes and closes the vault.
func (s *server) Shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	var errs []error
	if s.public != nil {
		s.public.SetKeepAlivesEnabled(false)
	}
	s.mu.Lock()
	gens := append([]*generation(nil), s.all...)
	s.mu.Unlock()
	streamErrs := make(chan error, len(gens))
	for _, g := range gens {
		go func() { streamErrs <- g.proxy.Shutdown(ctx) }()
	}
	if s.public != nil {
		if err := s.public.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("draining http: %w", err))
		}
	}
	for range gens {
		if err := <-streamErrs; err != nil {
			errs = append(errs, fmt.Errorf("closing streams: %w", err))
		}
	}
	if s.redirect != nil {
		s.redirect.Shutdown(ctx)
	}
	if s.admin != nil {
		s.admin.Shutdown(ctx)
	}
	s.closeAll()
	return errors.Join(errs...)
}

func (s *server) closeAll() {
	if s.background != nil {
		s.background()
	}
	s.wg.Wait()
	if s.tls != nil {
		s.tls.Close()
	}
	if s.vault != nil {
		s.vault.Close()
	}
}

// isTerminal reports whether w is a terminal (text logs for a person).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// challengePorts fills the ACME challenge and redirect ports from the
// listeners unless the caller set them: TLS-ALPN-01 is answered on the
// public listener, HTTP-01 on tls.http_listen.
func challengePorts(cfg *fileConfig, opts serverOptions) tlsOptions {
	o := opts.TLS
	publicPort := portOf(cfg.Listen)
	if opts.PublicListener != nil {
		publicPort = portOf(opts.PublicListener.Addr().String())
	}
	if o.TLSALPNPort == 0 {
		o.TLSALPNPort = publicPort
	}
	if o.HTTPSPort == 0 {
		o.HTTPSPort = publicPort
	}
	if o.HTTPPort == 0 {
		o.HTTPPort = portOf(cfg.TLS.HTTPListen)
	}
	return o
}

// portOf returns the port of a listen address, or 0 when it has none.
func portOf(addr string) int {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return 0
	}
	return n
}

// startTLS serves tls.http_listen (HTTP-01 challenges, else a redirect to
// HTTPS) and starts obtaining and renewing certificates. It runs after the
// public listener is bound, because the challenges are answered there.
func (s *server) startTLS(bg context.Context, cfg *fileConfig) error {
	if cfg.TLS.HTTPListen != "" {
		ln, err := net.Listen("tcp", cfg.TLS.HTTPListen)
		if err != nil {
			return fmt.Errorf("listening on tls.http_listen %s: %w", cfg.TLS.HTTPListen, err)
		}
		s.redirect = &http.Server{Handler: s.tls.HTTPHandler(nil), ReadHeaderTimeout: 10 * time.Second}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.redirect.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.logger.Error("http listener stopped", "err", err)
			}
		}()
	}
	// Issuance and renewal run in the background until Close; a handshake
	// before the first certificate arrives fails rather than waits.
	return s.tls.Manage(bg, false)
}
