package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	_ "github.com/mattn/go-sqlite3"
	"golang.org/x/sys/unix"
)

// veilChild is `veil serve` running as a child process.
type veilChild struct {
	cmd         *exec.Cmd
	logs        *syncBuffer
	base, admin string
	exited      chan struct{}
	err         error // of Wait, once exited is closed
}

// startVeilChild runs bin serve --config cfgPath with the master key in
// VEIL_MASTER_KEY and waits until it serves.
func startVeilChild(t *testing.T, bin, cfgPath, key string) *veilChild {
	t.Helper()
	c := &veilChild{logs: &syncBuffer{}, exited: make(chan struct{})}
	c.cmd = exec.Command(bin, "serve", "--config", cfgPath)
	c.cmd.Env = append(os.Environ(), "VEIL_MASTER_KEY="+key)
	c.cmd.Stdout = io.Discard
	c.cmd.Stderr = c.logs
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			c.cmd.Process.Kill()
			<-c.exited
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, line := range strings.Split(c.logs.String(), "\n") {
			var l struct{ Msg, Listen, Admin string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "veil serving" {
				c.base, c.admin = "http://"+l.Listen, "http://"+l.Admin
				return c
			}
		}
		select {
		case <-c.exited:
			t.Fatalf("veil serve exited before serving: %v\n%s", c.err, c.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("veil serve did not start serving in time\n%s", c.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wait waits up to d for the child to exit and returns its exit code.
func (c *veilChild) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-c.exited:
	case <-time.After(d):
		t.Fatalf("veil serve still running after %v", d)
	}
	var ee *exec.ExitError
	if errors.As(c.err, &ee) {
		return ee.ExitCode()
	}
	if c.err != nil {
		t.Fatalf("waiting for veil serve: %v", c.err)
	}
	return 0
}

// processEnv is what the process tests share: the veil binary, a master
// key, an agent token and a config file in front of a chatUpstream.
type processEnv struct {
	bin, key, token, cfgPath string
	cfg                      serveConfig
	up                       *chatUpstream
}

func newProcessEnv(t *testing.T, bin string) *processEnv {
	t.Helper()
	dir := t.TempDir()
	k := make([]byte, 32)
	rand.Read(k)
	token, sum := randomSecret(t)
	p := &processEnv{
		bin: bin, key: base64.StdEncoding.EncodeToString(k), token: token,
		cfgPath: filepath.Join(dir, "veil.yaml"), up: newChatUpstream(t),
	}
	p.cfg = serveConfig{Upstream: p.up.URL, DataDir: filepath.Join(dir, "data"), TokenSHA: sum}
	p.write(t, p.cfg)
	return p
}

func (p *processEnv) write(t *testing.T, c serveConfig) {
	t.Helper()
	if err := os.WriteFile(p.cfgPath, []byte(c.yaml()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (p *processEnv) start(t *testing.T) *veilChild {
	t.Helper()
	return startVeilChild(t, p.bin, p.cfgPath, p.key)
}

// TestServeProcess runs the built veil binary: killed mid-stream and
// restarted, with its vault made unwritable, reloaded by SIGHUP and stopped
// by SIGTERM.
func TestServeProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the veil binary")
	}
	bin := filepath.Join(t.TempDir(), "veil")
	start := time.Now()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build veil with: %v", err)
	}
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building veil: %v\n%s", err, out)
	}
	t.Logf("built veil in %v", time.Since(start).Round(time.Millisecond))

	t.Run("sigkill mid-stream keeps every acknowledged record", func(t *testing.T) { testServeCrash(t, bin) })
	t.Run("unwritable vault fails closed", func(t *testing.T) { testServeVaultFailure(t, bin) })
	t.Run("sighup reloads and sigterm drains", func(t *testing.T) { testServeSignals(t, bin) })
}

func testServeCrash(t *testing.T, bin string) {
	p := newProcessEnv(t, bin)
	c := p.start(t)

	const senders, enough = 3, 45
	var (
		mu    sync.Mutex
		acked = map[int]string{} // seq → card, for every 2xx answer
		wg    sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				seq := s*100000 + i
				card := luhnCard(1000 + seq)
				resp, err := client.Post(c.base+"/api/messages", "application/json",
					strings.NewReader(fmt.Sprintf(`{"seq":%d,"text":"pay with %s"}`, seq, spaced(card))))
				if err != nil {
					return // the process is gone
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					mu.Lock()
					acked[seq] = card
					mu.Unlock()
				}
			}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= enough {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d messages acknowledged", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	killed := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	c.wait(t, 10*time.Second)

	links := map[int]string{} // seq → reveal token, as the upstream saw it
	for _, body := range p.up.received() {
		var m struct {
			Seq  int    `json:"seq"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("upstream got a body that is not JSON: %v", err)
		}
		if toks := revealTokens(m.Text); len(toks) == 1 {
			links[m.Seq] = toks[0]
		}
	}
	t.Logf("%d acknowledged, %d reached the upstream before SIGKILL", len(acked), len(links))

	restart := time.Now()
	c2 := p.start(t)
	t.Logf("restarted and serving %v after the kill (start took %v)", time.Since(killed).Round(time.Millisecond), time.Since(restart).Round(time.Millisecond))
	for seq, card := range acked {
		tok, ok := links[seq]
		if !ok {
			t.Fatalf("message %d was acknowledged but the upstream holds no reveal link for it", seq)
		}
		if code, got := reveal(t, c2.base, p.token, tok); code != http.StatusOK || got != spaced(card) {
			t.Fatalf("message %d: reveal after restart: status %d, value match %v", seq, code, got == spaced(card))
		}
	}
	if err := c2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c2.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}

	verify := exec.Command(p.bin, "audit", "verify", "--config", p.cfgPath)
	verify.Env = append(os.Environ(), "VEIL_MASTER_KEY="+p.key)
	if out, err := verify.CombinedOutput(); err != nil {
		t.Fatalf("veil audit verify after the crash: %v\n%s", err, out)
	}

	db, err := sql.Open("sqlite3", "file:"+filepath.Join(p.cfg.DataDir, "vault.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q, %v", check, err)
	}
	var cards []string
	for _, card := range acked {
		cards = append(cards, cardForms(card)...)
	}
	assertAbsent(t, "logs", c.logs.String()+c2.logs.String(), append(cards, p.token)...)
}

func testServeVaultFailure(t *testing.T, bin string) {
	p := newProcessEnv(t, bin)
	c := p.start(t)
	first, second := luhnCard(301), luhnCard(302)
	if code, body := postJSON(t, c.base+"/api/messages", `{"text":"card `+spaced(first)+`"}`); code != http.StatusOK {
		t.Fatalf("first message: status %d %s", code, body)
	}
	p.up.waitReceived(t, 1)

	ctx := t.Context()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(c.base, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	wsCard, sseCard := luhnCard(303), luhnCard(304)
	p.up.script("", []string{"the card is " + spaced(sseCard) + " ok"}, false)

	// RLIMIT_FSIZE of one byte: every write SQLite makes past the first
	// byte of a file fails with EFBIG, as a full disk fails it. The
	// process's own stderr is a pipe and keeps working.
	var lim unix.Rlimit
	if err := unix.Prlimit(c.cmd.Process.Pid, unix.RLIMIT_FSIZE, nil, &lim); err != nil {
		t.Skipf("cannot read the child's file size limit: %v", err)
	}
	lim.Cur = 1
	if err := unix.Prlimit(c.cmd.Process.Pid, unix.RLIMIT_FSIZE, &lim, nil); err != nil {
		t.Skipf("cannot limit the child's file size: %v", err)
	}

	code, body := postJSON(t, c.base+"/api/messages", `{"text":"card `+spaced(second)+`"}`)
	var out struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	if code < 500 || json.Unmarshal([]byte(body), &out) != nil || out.Error == "" {
		t.Fatalf("divert with an unwritable vault: status %d, body %q; want a 5xx JSON error", code, body)
	}
	t.Logf("refused with %d %s", code, body)
	assertAbsent(t, "error body", body, cardForms(second)...)
	if n := len(p.up.received()); n != 1 {
		t.Fatalf("upstream received %d messages, want only the first", n)
	}

	// A WebSocket message is not relayed either: the connection ends with
	// an error close.
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"text":"card `+spaced(wsCard)+`"}`)); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, msg, err := ws.Read(rctx)
	if st := websocket.CloseStatus(err); err == nil || st == websocket.StatusNormalClosure || st == -1 {
		t.Errorf("WebSocket after a failed divert: read %d bytes, %v; want an error close", len(msg), err)
	} else {
		t.Logf("WebSocket closed with %d", st)
	}

	// An SSE answer holding a card the vault cannot keep is cut short,
	// without the card.
	resp, err := http.Post(c.base+"/v1/chat/completions", "application/json", strings.NewReader(`{"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	sseBody, sseErr := io.ReadAll(resp.Body)
	resp.Body.Close()
	assertAbsent(t, "SSE stream", string(sseBody), cardForms(sseCard)...)
	if sseErr == nil && !strings.Contains(string(sseBody), `"code":"divert_failed"`) {
		t.Errorf("SSE answer with a failed divert: status %d, ended with no divert_failed error event", resp.StatusCode)
	}
	if n := len(p.up.received()); n != 2 {
		t.Errorf("upstream received %d messages, want the first and the completion request only", n)
	}

	rc, rb := httpGet(t, c.admin+"/readyz")
	if rc != http.StatusServiceUnavailable || !strings.Contains(rb, `"vault"`) {
		t.Errorf("readyz with an unwritable vault: %d %s; want 503 naming the vault", rc, rb)
	}
	assertAbsent(t, "logs", c.logs.String(), append(cardForms(first, second, wsCard, sseCard), p.token)...)
}

// sseLines reads an SSE body until it ends and reports the data lines
// seen and how the body ended (nil for a clean end).
func sseLines(body io.Reader, first chan<- struct{}) (data int, err error) {
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			data++
			if data == 1 {
				close(first)
			}
		}
	}
	return data, sc.Err()
}

func testServeSignals(t *testing.T, bin string) {
	p := newProcessEnv(t, bin)
	c := p.start(t)
	ctx := t.Context()

	// SIGHUP with a new config: a custom rule starts masking.
	c1 := p.cfg
	c1.Rules = serveTestRule
	p.write(t, c1)
	if err := c.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(c.logs.String(), `"msg":"config reloaded","trigger":"signal"`) {
		if time.Now().After(deadline) {
			t.Fatal("no reload logged after SIGHUP")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, _ := postJSON(t, c.base+"/api/messages", `{"text":"about `+ticket+`"}`); code != http.StatusOK {
		t.Fatalf("post: status %d", code)
	}
	if got := p.up.waitReceived(t, 1)[0]; strings.Contains(got, ticket) {
		t.Fatal("after SIGHUP the new rule does not mask")
	}

	// SIGTERM with a WebSocket and an SSE stream open.
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(c.base, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	select {
	case <-p.up.wsOpen:
	case <-time.After(10 * time.Second):
		t.Fatal("the WebSocket did not reach the upstream")
	}
	wsDone := make(chan error, 1)
	go func() {
		_, _, err := ws.Read(ctx)
		wsDone <- err
	}()

	p.up.script("", []string{"hello", " there"}, true)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/chat/completions", strings.NewReader(`{"stream":true}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make(chan struct{})
	type sseEnd struct {
		data int
		err  error
	}
	sseDone := make(chan sseEnd, 1)
	go func() {
		n, err := sseLines(resp.Body, first)
		sseDone <- sseEnd{n, err}
	}()
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("the SSE stream sent nothing")
	}

	termAt := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-wsDone:
		if s := websocket.CloseStatus(err); s != websocket.StatusGoingAway {
			t.Errorf("WebSocket ended with %v (status %d), want close 1001", err, s)
		}
	case <-time.After(15 * time.Second):
		t.Error("the WebSocket was not closed")
	}
	select {
	case end := <-sseDone:
		if end.err != nil {
			t.Errorf("the SSE stream ended with %v, want a clean end", end.err)
		}
	case <-time.After(15 * time.Second):
		t.Error("the SSE stream did not end")
	}
	if code := c.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	t.Logf("exited 0 %v after SIGTERM", time.Since(termAt).Round(time.Millisecond))
	if !strings.Contains(c.logs.String(), `"msg":"veil stopped"`) {
		t.Error("no \"veil stopped\" log line")
	}
	assertAbsent(t, "logs", c.logs.String(), p.token)
}
