package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/veilproxy/veil/detectors"
)

// cannedTransport answers every request with a small JSON body, without a
// network: the handler benchmarks measure the proxy's own work.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	const body = `{"ok":true,"id":"msg_01"}`
	return &http.Response{
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}, "Content-Length": {"25"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}, nil
}

// discardWriter is a ResponseWriter that keeps nothing but the status.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }

// benchHandler sends msgs in turn through h, one request per iteration.
func benchHandler(b *testing.B, h http.Handler, msgs ...string) {
	b.Helper()
	b.ReportAllocs()
	reqs := make([]*http.Request, len(msgs))
	readers := make([]*strings.Reader, len(msgs))
	for i, m := range msgs {
		readers[i] = strings.NewReader(m)
		reqs[i] = httptest.NewRequest(http.MethodPost, "http://veil.test/api/messages", readers[i])
		reqs[i].Header.Set("Content-Type", "application/json")
		reqs[i].Header.Set("User-Agent", "Go-http-client/1.1")
		reqs[i].Header.Set("Accept-Encoding", "gzip")
	}
	w := &discardWriter{h: http.Header{}}
	cpu0 := processCPU()
	n := 0
	for i := 0; b.Loop(); i++ {
		n++
		k := i % len(msgs)
		readers[k].Reset(msgs[k])
		clear(w.h)
		w.status = 0
		h.ServeHTTP(w, reqs[k])
		if w.status != http.StatusOK && w.status != 0 {
			b.Fatalf("status %d", w.status)
		}
	}
	// CPU time of the whole process (GC included) per request: steadier
	// than ns/op when other work shares the machine.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(n), "cpu-ns/op")
}

// processCPU returns the user and system CPU time of this process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHandlerJSON measures Veil's own work for one small chat message,
// without sockets: routing, body scan, upstream rewrite, response scan.
func BenchmarkHandlerJSON(b *testing.B) {
	e, err := detectors.Compile(detectors.Config{})
	if err != nil {
		b.Fatal(err)
	}
	p, err := New(Config{Upstream: "http://upstream.test", Routes: []Route{
		{Match: Match{Path: "/api/messages", Methods: []string{"POST"}}, Body: "json", Skip: []string{"$.id"}},
		{Match: Match{Path: "/ws"}, WebSocket: &WebSocketRoute{Body: "json"}},
		{Match: Match{Path: "/v1/chat/completions"}, SSE: &SSERoute{Text: "$.choices[*].delta.content"}},
	}}, Options{Engine: e, Transport: cannedTransport{}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("card", func(b *testing.B) {
		benchHandler(b, p, `{"id":"c_123","author":{"name":"Visitor"},"text":"Hi, my card is 4111 1111 1111 1111, can you check my order?"}`)
	})
	b.Run("plain", func(b *testing.B) {
		benchHandler(b, p, `{"id":"c_124","author":{"name":"Visitor"},"text":"Hello there, where is my parcel? It was due yesterday."}`)
	})
}

// BenchmarkHandlerBareReverseProxy is the floor: a bare
// httputil.ReverseProxy with the same transport.
func BenchmarkHandlerBareReverseProxy(b *testing.B) {
	target, _ := url.Parse("http://upstream.test")
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport:  cannedTransport{},
		BufferPool: &bufferPool{},
	}
	benchHandler(b, rp, `{"id":"c_123","author":{"name":"Visitor"},"text":"Hi, my card is 4111 1111 1111 1111, can you check my order?"}`)
}

// BenchmarkEngineValues is the detectors' share of BenchmarkHandlerJSON:
// the values of the small chat message, each with its key as context.
func BenchmarkEngineValues(b *testing.B) {
	e, err := detectors.Compile(detectors.Config{})
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range []struct{ name, key, value string }{
		{"name", "name: ", "Visitor"},
		{"text-card", "text: ", "Hi, my card is 4111 1111 1111 1111, can you check my order?"},
		{"text-plain", "text: ", "Hello there, where is my parcel? It was due yesterday."},
	} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := b.Context()
			text, pre := []byte(v.value), []byte(v.key)
			for b.Loop() {
				if _, _, err := e.Redact(ctx, text, detectors.RedactOptions{Preceding: pre}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
