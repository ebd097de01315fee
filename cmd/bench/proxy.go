package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/veilproxy/veil/detectors"
	"github.com/veilproxy/veil/proxy"
)

// benchMessage is the small chat message every HTTP run posts.
const benchMessage = `{"id":"c_123","author":{"name":"Visitor"},"text":"Hi, my card is 4111 1111 1111 1111, can you check my order?"}`

// benchProxy compares requests/s and latency of small JSON POSTs sent
// directly to a Go upstream, through nginx proxy_pass and through Veil, then
// SSE time to first byte and the memory of idle WebSocket connections.
func benchProxy(args []string) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	duration := fs.Duration("duration", 5*time.Second, "length of each load run")
	concurrency := fs.Int("concurrency", 16, "requests in flight during a load run")
	nginxBin := fs.String("nginx", "/usr/sbin/nginx", "nginx binary (skipped when missing)")
	wsConns := fs.Int("ws-conns", 2000, "idle WebSocket connections to hold")
	sseSamples := fs.Int("sse-samples", 200, "SSE streams opened per target for time to first byte")
	rounds := fs.Int("rounds", 5, "interleaved rounds the load duration is split into")
	httpOnly := fs.Bool("http-only", false, "run the HTTP load only (no SSE or WebSocket measurements)")
	baseline := fs.String("baseline", "", "a bench binary built from another revision: its Veil child runs as target veil-base, for an A/B comparison")
	if err := fs.Parse(args); err != nil {
		return err
	}
	raiseFileLimit()

	upstream, err := startUpstream()
	if err != nil {
		return err
	}
	defer upstream.close()

	engine, err := detectors.Compile(detectors.Config{})
	if err != nil {
		return fmt.Errorf("compiling detectors: %w", err)
	}
	veil, err := startVeil(upstream.url, engine)
	if err != nil {
		return err
	}
	defer veil.close()

	fmt.Printf("HTTP: small JSON POST (%d bytes), concurrency %d, %s per target in %d interleaved rounds, GOMAXPROCS %d\n",
		len(benchMessage), *concurrency, *duration, *rounds, runtime.GOMAXPROCS(0))
	targets := []*loadTarget{{name: "direct", url: upstream.url + "/api/messages"}}
	ng, err := startNginx(*nginxBin, upstream.url)
	if err != nil {
		fmt.Printf("  %-8s n/a (%v)\n", "nginx", err)
	} else {
		defer ng.close()
		targets = append(targets, &loadTarget{name: "nginx", url: ng.url + "/api/messages", pids: ng.pids})
	}
	targets = append(targets, &loadTarget{name: "veil", url: veil.url + "/api/messages"})
	// nginx does its work in processes of its own; so can Veil, for a
	// like-for-like comparison on a small machine.
	if child, err := startVeilProcess("", upstream.url, false); err != nil {
		fmt.Printf("  %-8s n/a (%v)\n", "veil-own", err)
	} else {
		defer child.close()
		targets = append(targets, &loadTarget{name: "veil-own", url: child.url + "/api/messages", pids: child.pids})
	}
	if *baseline != "" {
		child, err := startVeilProcess(*baseline, upstream.url, false)
		if err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		defer child.close()
		targets = append(targets, &loadTarget{name: "veil-base", url: child.url + "/api/messages", pids: child.pids})
	}
	// A bare httputil.ReverseProxy (with a buffer pool, as Veil has) in its
	// own process: what Go's HTTP stack costs before any scanning.
	if child, err := startVeilProcess("", upstream.url, true); err != nil {
		fmt.Printf("  %-8s n/a (%v)\n", "go-rp-own", err)
	} else {
		defer child.close()
		targets = append(targets, &loadTarget{name: "go-rp-own", url: child.url + "/api/messages", pids: child.pids})
	}
	// Rounds alternate the targets so that a burst of load from elsewhere
	// on the machine does not fall on one target only.
	for _, t := range targets {
		if err := t.run(*concurrency, 300*time.Millisecond, false); err != nil {
			return fmt.Errorf("%s: warm-up: %w", t.name, err)
		}
	}
	for range *rounds {
		for _, t := range targets {
			if err := t.run(*concurrency, *duration/time.Duration(*rounds), true); err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
		}
	}
	results := map[string]*loadResult{}
	for _, t := range targets {
		results[t.name] = t.result()
		printLoad(t.name, results[t.name])
	}
	direct, viaNginx := results["direct"], results["nginx"]
	for _, name := range []string{"veil", "veil-own"} {
		v := results[name]
		if v == nil {
			continue
		}
		fmt.Printf("  %s/direct requests/s: %.0f%%; added p50 %s, p99 %s\n",
			name, 100*v.rps/direct.rps, v.p50-direct.p50, v.p99-direct.p99)
		if viaNginx != nil {
			fmt.Printf("  %s/nginx requests/s: %.0f%% (goal >= 70%%); p50 %s-nginx %s, p99 %s-nginx %s\n",
				name, 100*v.rps/viaNginx.rps, name, v.p50-viaNginx.p50, name, v.p99-viaNginx.p99)
		}
	}
	if own, rp := results["veil-own"], results["go-rp-own"]; own != nil && rp != nil && rp.rps > 0 {
		fmt.Printf("  veil-own/go-rp-own requests/s: %.0f%% (Go's HTTP stack alone is the ceiling)\n", 100*own.rps/rp.rps)
	}
	fmt.Println("  (veil runs inside the bench process, next to the load generator and the upstream;" +
		" veil-own, like nginx, has a process of its own)")
	// CPU per request is much steadier than requests/s on a shared
	// machine: it does not depend on what else runs at the same time.
	// The median of the per-round ratios is steadier still: the two
	// targets of a round ran seconds apart, under much the same load.
	byName := map[string]*loadTarget{}
	for _, t := range targets {
		byName[t.name] = t
	}
	for _, pair := range [][2]string{{"veil-own", "nginx"}, {"veil-own", "go-rp-own"}, {"veil-own", "veil-base"}} {
		a, b := results[pair[0]], results[pair[1]]
		if a == nil || b == nil || a.cpuPerReq <= 0 || b.cpuPerReq <= 0 {
			continue
		}
		fmt.Printf("  %s cpu/req is %.2fx %s's (median of per-round ratios %.2fx)\n", pair[0],
			float64(a.cpuPerReq)/float64(b.cpuPerReq), pair[1], medianCPURatio(byName[pair[0]], byName[pair[1]]))
	}
	if *httpOnly {
		return nil
	}

	// Every proxy adds a hop; nginx (buffering off for the stream) and the
	// bare Go proxy show what a hop alone costs.
	fmt.Printf("SSE time to first byte / to first text (%d streams each, sequential):\n", *sseSamples)
	sseTargets := []loadTarget{{name: "direct", url: upstream.url}, {name: "veil", url: veil.url}}
	for _, t := range targets {
		if t.name != "direct" && t.name != "veil" {
			sseTargets = append(sseTargets, loadTarget{name: t.name, url: strings.TrimSuffix(t.url, "/api/messages")})
		}
	}
	var sseDirect, sseDirectText [2]time.Duration
	for i, t := range sseTargets {
		first, text, err := sseTTFB(t.url+"/v1/chat/completions", *sseSamples)
		if err != nil {
			fmt.Printf("  %-9s n/a (%v)\n", t.name, err)
			continue
		}
		added := ""
		if i == 0 {
			sseDirect, sseDirectText = first, text
		} else if sseDirect[0] > 0 {
			added = fmt.Sprintf("  added: byte p50 %s, text p50 %s", first[0]-sseDirect[0], text[0]-sseDirectText[0])
		}
		fmt.Printf("  %-9s byte p50 %-10s p99 %-10s text p50 %-10s p99 %-10s%s\n", t.name, first[0], first[1], text[0], text[1], added)
	}

	fmt.Printf("WebSocket: %d idle connections (heap+stacks after GC):\n", *wsConns)
	base, err := wsMemory(strings.Replace(upstream.url, "http", "ws", 1)+"/ws", *wsConns)
	if err != nil {
		fmt.Printf("  direct   n/a (%v)\n", err)
		return nil
	}
	fmt.Printf("  direct   %.1f KiB per connection (client and upstream ends)\n", base/1024)
	via, err := wsMemory(strings.Replace(veil.url, "http", "ws", 1)+"/ws", *wsConns)
	if err != nil {
		fmt.Printf("  veil     n/a (%v)\n", err)
		return nil
	}
	fmt.Printf("  veil     %.1f KiB per connection in total; Veil's share %.1f KiB (goal <= 64 KiB)\n",
		via/1024, (via-base)/1024)
	return nil
}

// raiseFileLimit lifts the open-file limit to its hard maximum: thousands of
// WebSocket connections hold four sockets each through the proxy.
func raiseFileLimit() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// server is something listening on loopback.
type server struct {
	url   string
	close func()
	// pids returns the processes serving it, for CPU accounting; nil when
	// it runs inside the bench process.
	pids func() []int
}

// startUpstream serves the chat backend stand-in: JSON replies, an
// OpenAI-style event stream and a WebSocket endpoint that stays idle.
func startUpstream() (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/messages", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true,"id":"msg_01"}`)
	})
	mux.HandleFunc("/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for _, word := range []string{"Hello", " there", ", how", " can I help?"} {
			fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%q}}]}\n\n", word)
			_ = rc.Flush()
		}
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			if _, _, err := c.Read(r.Context()); err != nil {
				return
			}
		}
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	return &server{url: "http://" + ln.Addr().String(), close: func() { _ = srv.Close() }}, nil
}

// startVeil runs the proxy in process with the default engine.
func startVeil(upstream string, engine *detectors.Engine) (*server, error) {
	p, err := proxy.New(proxy.Config{
		Upstream: upstream,
		Routes: []proxy.Route{
			{Match: proxy.Match{Path: "/api/messages", Methods: []string{"POST"}}, Body: "json", Skip: []string{"$.id"}},
			{Match: proxy.Match{Path: "/ws"}, WebSocket: &proxy.WebSocketRoute{Body: "json"}},
			{Match: proxy.Match{Path: "/v1/chat/completions"}, SSE: &proxy.SSERoute{Text: "$.choices[*].delta.content"}},
		},
	}, proxy.Options{Engine: engine})
	if err != nil {
		return nil, fmt.Errorf("starting veil: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := proxy.NewServer(p, nil)
	go func() { _ = srv.Serve(ln) }()
	return &server{url: "http://" + ln.Addr().String(), close: func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
		_ = srv.Close()
	}}, nil
}

// veilChildEnv, when set to an upstream URL, makes the bench binary serve
// Veil on a loopback port instead of benchmarking: it prints the address
// and serves until its standard input closes.
const veilChildEnv = "VEIL_BENCH_PROXY_UPSTREAM"

func init() {
	up := os.Getenv(veilChildEnv)
	if up == "" {
		return
	}
	if err := serveVeilChild(up); err != nil {
		fmt.Fprintln(os.Stderr, "bench child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func serveVeilChild(upstream string) error {
	// VEIL_BENCH_CHILD_CPUPROFILE=DIR writes each child's CPU profile to
	// DIR/veil.pprof or DIR/go-rp.pprof, for `go tool pprof`.
	if dir := os.Getenv("VEIL_BENCH_CHILD_CPUPROFILE"); dir != "" {
		name := "veil.pprof"
		if os.Getenv(plainChildEnv) != "" {
			name = "go-rp.pprof"
		}
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if os.Getenv(plainChildEnv) != "" {
		return servePlainChild(upstream)
	}
	// As `veil serve` does.
	defer proxy.TuneGC()()
	engine, err := detectors.Compile(detectors.Config{})
	if err != nil {
		return err
	}
	srv, err := startVeil(upstream, engine)
	if err != nil {
		return err
	}
	defer srv.close()
	fmt.Println(srv.url)
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent goes
	return nil
}

// plainChildEnv makes the child serve a bare httputil.ReverseProxy.
const plainChildEnv = "VEIL_BENCH_PROXY_PLAIN"

func servePlainChild(upstream string) error {
	target, err := url.Parse(upstream)
	if err != nil {
		return err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport:  tr,
		BufferPool: &benchBuffers{},
		// Streams the bench cuts short are expected: not worth a line.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// The same server as Veil's, so that the two differ by their
	// handlers only.
	srv := proxy.NewServer(rp, nil)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	fmt.Println("http://" + ln.Addr().String())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// benchBuffers recycles copy buffers, as Veil does.
type benchBuffers struct{ pool sync.Pool }

func (b *benchBuffers) Get() []byte {
	if v, ok := b.pool.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *benchBuffers) Put(buf []byte) { b.pool.Put(&buf) }

// startVeilProcess runs Veil (or, when plain, a bare ReverseProxy) in a
// child process of its own: a child of exe, or of this binary when exe is
// empty.
func startVeilProcess(exe, upstream string, plain bool) (*server, error) {
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), veilChildEnv+"="+upstream)
	if plain {
		cmd.Env = append(cmd.Env, plainChildEnv+"=1")
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = stdin.Close()
		_ = cmd.Wait()
		return nil, fmt.Errorf("veil child did not start: %w", err)
	}
	pid := cmd.Process.Pid
	return &server{url: strings.TrimSpace(line), close: func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}, pids: func() []int { return []int{pid} }}, nil
}

const nginxConf = `worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    upstream chat { server %[2]s; keepalive 64; }
    server {
        listen 127.0.0.1:%[3]d;
        location / {
            proxy_pass http://chat;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
        location /v1/chat/completions {
            proxy_pass http://chat;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_buffering off;
        }
    }
}
`

// startNginx runs nginx in the foreground on a free loopback port with
// proxy_pass to upstream, and waits until it accepts connections.
func startNginx(bin, upstream string) (*server, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("nginx not installed at %s", bin)
	}
	dir, err := os.MkdirTemp("", "veil-bench-nginx-")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := filepath.Join(dir, "nginx.conf")
	host := strings.TrimPrefix(upstream, "http://")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, dir, host, port)), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting nginx: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = os.RemoveAll(dir)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case err := <-exited:
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("nginx exited: %v: %s", err, strings.TrimSpace(stderr.String()))
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return nil, errors.New("nginx did not start listening")
		}
		time.Sleep(20 * time.Millisecond)
	}
	master := cmd.Process.Pid
	return &server{url: "http://" + addr, close: stop, pids: func() []int {
		return append(childPids(master), master)
	}}, nil
}

// loadResult is one load run's throughput and latency, and the CPU time
// the proxy's own processes spent per request (0: not measured).
type loadResult struct {
	n             int
	rps           float64
	p50, p99, max time.Duration
	cpuPerReq     time.Duration
}

func printLoad(name string, r *loadResult) {
	cpu := "cpu/req n/a"
	if r.cpuPerReq > 0 {
		cpu = fmt.Sprintf("cpu/req %s", r.cpuPerReq.Round(100*time.Nanosecond))
	}
	fmt.Printf("  %-9s %8.0f req/s  p50 %-10s p99 %-10s max %-10s %-18s (%d requests)\n", name, r.rps, r.p50, r.p99, r.max, cpu, r.n)
}

// loadTarget accumulates the latencies of the load rounds run against url.
type loadTarget struct {
	name string
	url  string
	pids func() []int // the serving processes; nil: in process, CPU not measured
	lat  []time.Duration
	took time.Duration
	cpu  time.Duration // CPU time of pids during the recorded rounds
	// roundCPU is the CPU time per request of each recorded round.
	roundCPU []time.Duration
}

// medianCPURatio returns the median over the recorded rounds of a's CPU
// per request divided by b's in the same round (0: not measured).
func medianCPURatio(a, b *loadTarget) float64 {
	var ratios []float64
	for i := 0; i < len(a.roundCPU) && i < len(b.roundCPU); i++ {
		if a.roundCPU[i] > 0 && b.roundCPU[i] > 0 {
			ratios = append(ratios, float64(a.roundCPU[i])/float64(b.roundCPU[i]))
		}
	}
	if len(ratios) == 0 {
		return 0
	}
	slices.Sort(ratios)
	if n := len(ratios); n%2 == 0 {
		return (ratios[n/2-1] + ratios[n/2]) / 2
	}
	return ratios[len(ratios)/2]
}

func (t *loadTarget) result() *loadResult {
	lat := slices.Clone(t.lat)
	slices.Sort(lat)
	if len(lat) == 0 {
		return &loadResult{}
	}
	return &loadResult{
		n:         len(lat),
		rps:       float64(len(lat)) / t.took.Seconds(),
		p50:       lat[len(lat)/2],
		p99:       lat[len(lat)*99/100],
		max:       lat[len(lat)-1],
		cpuPerReq: t.cpu / time.Duration(len(lat)),
	}
}

// run posts benchMessage to t.url from concurrency workers for d, keeping
// the latencies when record is set. Every response must be 200.
func (t *loadTarget) run(concurrency int, d time.Duration, record bool) error {
	tr := &http.Transport{MaxIdleConnsPerHost: concurrency, MaxIdleConns: concurrency, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	body := []byte(benchMessage)
	one := func() error {
		req, err := http.NewRequest(http.MethodPost, t.url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	var pids []int
	var cpu0 time.Duration
	if record && t.pids != nil {
		pids = t.pids()
		cpu0 = procCPU(pids)
	}
	start := time.Now()
	end := start.Add(d)
	var count int // requests recorded in this round
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1024)
			for time.Now().Before(end) {
				t0 := time.Now()
				if err := one(); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				lat = append(lat, time.Since(t0))
			}
			if record {
				mu.Lock()
				t.lat = append(t.lat, lat...)
				count += len(lat)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if record {
		t.took += time.Since(start)
		if pids != nil {
			cpu := procCPU(pids) - cpu0
			t.cpu += cpu
			if count > 0 {
				t.roundCPU = append(t.roundCPU, cpu/time.Duration(count))
			}
		}
	}
	return firstErr
}

// clockTick is the unit of the CPU times in /proc/PID/stat (USER_HZ, 100
// on every Linux platform Go supports).
const clockTick = 10 * time.Millisecond

// procCPU returns the user and system CPU time the processes have used so
// far, from /proc (0 where it cannot be read).
func procCPU(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		f := procStat(pid)
		if len(f) < 15 {
			continue
		}
		var utime, stime int64
		_, err1 := fmt.Sscan(f[13], &utime)
		_, err2 := fmt.Sscan(f[14], &stime)
		if err1 == nil && err2 == nil {
			total += time.Duration(utime+stime) * clockTick
		}
	}
	return total
}

// procStat returns the fields of /proc/PID/stat, the command name (which
// may hold spaces) counted as one field.
func procStat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return nil
	}
	return append([]string{string(b[:open-1]), string(b[open+1 : end])}, strings.Fields(string(b[end+1:]))...)
}

// childPids returns the processes whose parent is pid (nginx's workers).
func childPids(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		var child int
		if _, err := fmt.Sscan(e.Name(), &child); err != nil {
			continue
		}
		if f := procStat(child); len(f) > 3 && f[3] == fmt.Sprint(pid) {
			out = append(out, child)
		}
	}
	return out
}

// sseTTFB opens n event streams one after another and returns the p50 and
// p99 time from sending the request to the first byte of the body, and to
// the first event that carries text.
func sseTTFB(url string, n int) (first, text [2]time.Duration, err error) {
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var firstLat, textLat []time.Duration
	for range n {
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"stream":true}`))
		if err != nil {
			return first, text, err
		}
		req.Header.Set("Content-Type", "application/json")
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return first, text, err
		}
		br := bufio.NewReader(resp.Body)
		_, err = br.Peek(1)
		firstLat = append(firstLat, time.Since(t0))
		gotText := false
		for err == nil && !gotText {
			var line string
			line, err = br.ReadString('\n')
			if strings.Contains(line, `"content":"`) && !strings.Contains(line, `"content":""`) {
				textLat = append(textLat, time.Since(t0))
				gotText = true
			}
		}
		_, _ = io.Copy(io.Discard, br)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !gotText {
			return first, text, fmt.Errorf("stream failed: status %d", resp.StatusCode)
		}
	}
	slices.Sort(firstLat)
	slices.Sort(textLat)
	first = [2]time.Duration{firstLat[len(firstLat)/2], firstLat[len(firstLat)*99/100]}
	text = [2]time.Duration{textLat[len(textLat)/2], textLat[len(textLat)*99/100]}
	return first, text, nil
}

// wsMemory opens n WebSocket connections to url, lets them sit idle and
// returns the growth of heap and stack memory per connection.
func wsMemory(url string, n int) (float64, error) {
	before := memInUse()
	conns := make([]*websocket.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close(websocket.StatusNormalClosure, "")
		}
	}()
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, resp, err := websocket.Dial(ctx, url, nil)
		cancel()
		if err != nil {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			return 0, fmt.Errorf("dial %d (status %d): %w", len(conns), status, err)
		}
		conns = append(conns, c)
	}
	// Every connection carries one message round the relay so that both
	// ends are fully set up before measuring.
	for _, c := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`))
		cancel()
		if err != nil {
			return 0, fmt.Errorf("write: %w", err)
		}
	}
	time.Sleep(500 * time.Millisecond) // let the relays go idle
	after := memInUse()
	return float64(after-before) / float64(n), nil
}

func memInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}
