package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/veilproxy/veil/detectors"
)

// BenchmarkProxyJSON sends a small chat message through the proxy to a
// local upstream, over loopback with keep-alive connections.
func BenchmarkProxyJSON(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true,"id":"msg_01"}`)
	}))
	defer up.Close()
	e, err := detectors.Compile(detectors.Config{})
	if err != nil {
		b.Fatal(err)
	}
	p, err := New(Config{Upstream: up.URL, Routes: []Route{{Match: Match{Path: "/api/messages"}, Body: "json", Skip: []string{"$.id"}}}}, Options{Engine: e})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(p)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	const msg = `{"id":"c_123","author":{"name":"Visitor"},"text":"Hi, my card is 4111 1111 1111 1111, can you check my order?"}`
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.SetParallelism(8) // 16 clients in flight on 2 CPUs, like cmd/bench
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Post(srv.URL+"/api/messages", "application/json", strings.NewReader(msg))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
