package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/veilproxy/veil/detectors"
	"github.com/veilproxy/veil/forms/agent"
	"github.com/veilproxy/veil/proxy"
	"github.com/veilproxy/veil/vault"
)

// demoAgent is the agent the demo signs in on agent pages.
const demoAgent = "demo-agent"

// demoIdentityHeader is the header the demo's sign-on stand-in sets.
const demoIdentityHeader = "X-Demo-User"

func cmdDemo(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Err)
	listen := fs.String("listen", "127.0.0.1:8480", "address for the demo (loopback)")
	scanOnly := fs.Bool("scan", false, "only an interactive scanner: type a line, see it masked")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(io.Err, "veil demo: unexpected argument %q\nusage: veil demo [--listen ADDR] [--scan]\n", fs.Arg(0))
		return 2
	}
	if *scanOnly {
		eng, err := detectors.Compile(detectors.Config{})
		if err != nil {
			fmt.Fprintf(io.Err, "veil demo: %v\n", err)
			return 2
		}
		return runInteractiveScan(ctx, io, eng)
	}
	d, err := startDemo(ctx, *listen, io)
	if err != nil {
		fmt.Fprintf(io.Err, "veil demo: %v\n", err)
		return 1
	}
	<-ctx.Done()
	fmt.Fprintln(io.Out, "\nStopping the demo and erasing its vault.")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Close(sctx); err != nil {
		fmt.Fprintf(io.Err, "veil demo: %v\n", err)
		return 1
	}
	fmt.Fprintln(io.Out, "Stopped.")
	return 0
}

// demo is a running demo: the built-in chat backend and Veil in front of it.
type demo struct {
	URL      string // Veil's public URL
	Token    string // agent API token, printed once
	dir      string
	srv      *server
	hub      *demoChat
	chat     *http.Server
	chatDone chan struct{}

	closeOnce sync.Once
	closeErr  error
}

func startDemo(ctx context.Context, listen string, io stdio) (*demo, error) {
	dir, err := os.MkdirTemp("", "veil-demo-*")
	if err != nil {
		return nil, fmt.Errorf("creating the demo vault folder: %w", err)
	}
	d := &demo{dir: dir, chatDone: make(chan struct{})}
	fail := func(err error) (*demo, error) {
		d.Close(context.Background())
		return nil, err
	}
	logger, err := newLogger(logConfig{Format: "text", Level: "warn"}, io.Err, true)
	if err != nil {
		return fail(err)
	}

	chatLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(fmt.Errorf("listening for the demo chat: %w", err))
	}
	d.hub = newDemoChat(logger)
	d.chat = &http.Server{Handler: d.hub, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(d.chatDone)
		d.chat.Serve(chatLn)
	}()

	if err := checkLoopback(listen); err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fail(fmt.Errorf("listening on %s (choose another address with --listen): %w", listen, err))
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		return fail(fmt.Errorf("listening for metrics: %w", err))
	}
	d.URL = "http://" + ln.Addr().String()

	key := make([]byte, 32)
	rand.Read(key)
	tok := make([]byte, 24)
	rand.Read(tok)
	d.Token = base64.RawURLEncoding.EncodeToString(tok)
	sum := sha256.Sum256([]byte(d.Token))

	noScan := false
	pageMethods := []string{http.MethodGet, http.MethodHead}
	cfg := &fileConfig{
		Listen:    ln.Addr().String(),
		TLS:       tlsConfig{Mode: "off"},
		Upstream:  "http://" + chatLn.Addr().String(),
		DataDir:   dir,
		PublicURL: d.URL,
		Routes: []proxy.Route{
			// The demo chat's own pages, script and style sheet are the
			// product's, not chat content: they pass unscanned, so the home
			// page shows its example card number as written rather than
			// diverting it into the vault on every page view.
			{Match: proxy.Match{Path: "/", Methods: pageMethods}, Scan: &noScan},
			{Match: proxy.Match{Path: "/visitor", Methods: pageMethods}, Scan: &noScan},
			{Match: proxy.Match{Path: "/agent", Methods: pageMethods}, Scan: &noScan},
			{Match: proxy.Match{Path: "/assets/*", Methods: pageMethods}, Scan: &noScan},
			{Match: proxy.Match{Path: "/ws"}, WebSocket: &proxy.WebSocketRoute{Body: "json"}},
			{Match: proxy.Match{Path: "/v1/chat/completions"}, Body: "json", SSE: &proxy.SSERoute{Text: "$.choices[*].delta.content"}},
		},
		// The demo passes its ephemeral key directly; this names no real
		// variable and is never read.
		Vault:     vault.Config{Key: vault.KeySource{Env: "VEIL_DEMO_EPHEMERAL_KEY"}},
		Detectors: detectors.Config{Actions: map[string]string{"card": "divert", "ssn": "divert"}},
		Agents: agent.Config{
			APITokens:      []agent.APIToken{{Name: "demo-token", SHA256: hex.EncodeToString(sum[:])}},
			TrustedProxies: []string{"127.0.0.1/32", "::1/128"},
			IdentityHeader: demoIdentityHeader,
		},
	}
	if err := cfg.validate("demo"); err != nil {
		ln.Close()
		adminLn.Close()
		return fail(err)
	}
	d.srv, err = startServer(ctx, cfg, serverOptions{
		Logger:         logger,
		MasterKey:      key,
		PublicListener: ln,
		AdminListener:  adminLn,
		Wrap:           demoSignOn,
	})
	if err != nil {
		ln.Close()
		adminLn.Close()
		return fail(err)
	}

	fmt.Fprintf(io.Out, `Veil demo: a small chat backend with Veil in front of it, on this machine only.

  Start here     %[1]s/
  Visitor chat   %[1]s/visitor
  Agent chat     %[1]s/agent
  Agent inbox    %[1]s/veil/agent
  Metrics        http://%[3]s/metrics

Open the visitor and agent pages side by side; the agent pages sign you in as
%[2]q (the demo stands in for a single sign-on proxy).

Try it:
  1. Type a card number such as 4111 1111 1111 1111 as the visitor: the agent
     sees it masked, with a link that reveals it once.
  2. Send "/secure payment" from the agent page: the visitor gets a secure form
     instead; the agent reads the submission once from the inbox.
  3. Ask the bot for "my card on file" on the visitor page: its streamed answer
     arrives masked.

The vault is in %[4]s, sealed with an ephemeral master key
made for this run and never saved: the demo erases it when it stops.

Agent API token, shown once, in a command that mints a secure form link:
  curl -X POST -H "Authorization: Bearer %[5]s" %[1]s/veil/api/forms/payment/links

Press Ctrl+C to stop.
`, d.URL, demoAgent, d.srv.AdminAddr(), dir, d.Token)
	return d, nil
}

// demoSignOn stands in for a single sign-on proxy: it signs the browser in
// as the demo agent on agent pages, and strips the identity header anywhere
// else so a visitor page can never claim it.
func demoSignOn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del(demoIdentityHeader)
		switch {
		case r.URL.Path == "/agent", r.URL.Path == "/veil/agent",
			strings.HasPrefix(r.URL.Path, "/veil/r/"), strings.HasPrefix(r.URL.Path, "/veil/api/"):
			r.Header.Set(demoIdentityHeader, demoAgent)
		}
		next.ServeHTTP(w, r)
	})
}

// checkLoopback refuses a demo address other programs or machines could
// reach: the demo signs in as an agent whoever opens an agent page.
func checkLoopback(listen string) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen %q: want host:port on loopback, such as 127.0.0.1:8480", listen)
	}
	if !isLoopbackHost(host) {
		return fmt.Errorf("--listen %q: the demo listens on loopback only (127.0.0.1 or ::1), since it signs in as an agent whoever opens an agent page", listen)
	}
	return nil
}

// Close stops Veil and the chat backend and erases the demo vault. Calls
// after the first return the first call's result.
func (d *demo) Close(ctx context.Context) error {
	d.closeOnce.Do(func() {
		var errs []error
		if d.srv != nil {
			errs = append(errs, d.srv.Shutdown(ctx))
		}
		if d.chat != nil {
			errs = append(errs, d.chat.Shutdown(ctx))
			// Shutdown leaves hijacked connections alone: close the
			// chat pages' WebSockets too.
			d.hub.Close()
			<-d.chatDone
		}
		if err := os.RemoveAll(d.dir); err != nil {
			errs = append(errs, fmt.Errorf("erasing the demo vault: %w", err))
		}
		d.closeErr = errors.Join(errs...)
	})
	return d.closeErr
}
