package proxy

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/veilproxy/veil/detectors"
)

// sseTestEngine compiles the default rules.
func sseTestEngine(t testing.TB) *detectors.Engine {
	t.Helper()
	e, err := detectors.Compile(detectors.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// sseRewriteAll runs a whole stream, cut at cuts, through the parser and a
// rewriter with the given text path.
func sseRewriteAll(t testing.TB, e *detectors.Engine, textPath string, in string, cuts []int) (string, error) {
	t.Helper()
	env := sseEnv{
		engine: e,
		redact: func(ctx context.Context, text []byte) ([]byte, error) {
			out, fs, err := e.Redact(ctx, text, detectors.RedactOptions{})
			if err != nil {
				return nil, err
			}
			if detectors.Strongest(fs) == detectors.ActionBlock {
				return nil, &blockedError{Types: findingTypes(fs, detectors.ActionBlock)}
			}
			return out, nil
		},
	}
	if textPath != "" {
		p, err := parseJSONPath(textPath)
		if err != nil {
			t.Fatal(err)
		}
		env.text = &p
	}
	r := newSSERewriter(context.Background(), env)
	p := sseParser{max: 1 << 20}
	last := 0
	for _, c := range append(cuts, len(in)) {
		if c < last || c > len(in) {
			continue
		}
		if err := p.feed([]byte(in[last:c]), r.event); err != nil {
			return string(r.out), err
		}
		last = c
	}
	if err := p.finish(r.event); err != nil {
		return string(r.out), err
	}
	if err := r.flush(); err != nil {
		return string(r.out), err
	}
	return string(r.out), nil
}

// sseOpenAIStream builds an OpenAI-style chat completion stream whose content
// deltas are parts, for choice 0.
func sseOpenAIStream(parts ...string) string {
	var b strings.Builder
	b.WriteString(`data: {"id":"c1","choices":[{"index":0,"delta":{"role":"assistant"}}]}` + "\n\n")
	for _, p := range parts {
		b.WriteString(`data: {"id":"c1","choices":[{"index":0,"delta":{"content":"` + p + `"},"finish_reason":null}]}` + "\n\n")
	}
	b.WriteString(`data: {"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.String()
}

// sseContents returns the concatenated content deltas of a stream per
// choice index, and whether [DONE] is its last event.
func sseContents(t testing.TB, stream string) (map[int]string, bool) {
	t.Helper()
	out := make(map[int]string)
	evs := sseRefParse(stream)
	for _, ev := range evs {
		if !ev.HasData || ev.Data == "[DONE]" || ev.Event == "error" {
			continue
		}
		var chunk struct {
			Choices []struct {
				Index int `json:"index"`
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &chunk); err != nil {
			t.Fatalf("event data %q: %v", ev.Data, err)
		}
		for _, c := range chunk.Choices {
			out[c.Index] += c.Delta.Content
		}
	}
	done := len(evs) > 0 && evs[len(evs)-1].Data == "[DONE]"
	return out, done
}

func TestSSERewriteSplitCard(t *testing.T) {
	e := sseTestEngine(t)
	tests := []struct {
		name  string
		parts []string
	}{
		{"one delta", []string{"card 4111 1111 1111 1111 ok"}},
		{"split in digits", []string{"card 41", "11 1111 11", "11 1111 ok"}},
		{"split at spaces", []string{"card 4111 ", "1111 ", "1111 ", "1111", " ok"}},
		{"clean", []string{"hello ", "world"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			whole := strings.Join(tt.parts, "")
			want, _, err := e.Redact(context.Background(), []byte(whole), detectors.RedactOptions{})
			if err != nil {
				t.Fatal(err)
			}
			in := sseOpenAIStream(tt.parts...)
			for cut := 0; cut <= len(in); cut += 7 {
				out, err := sseRewriteAll(t, e, "$.choices[*].delta.content", in, []int{cut})
				if err != nil {
					t.Fatal(err)
				}
				got, done := sseContents(t, out)
				if got[0] != string(want) {
					t.Fatalf("cut %d: content %q, want %q\n%s", cut, got[0], want, out)
				}
				if strings.Contains(out, "4111") || !done {
					t.Fatalf("cut %d: leaked or no [DONE] last:\n%s", cut, out)
				}
			}
		})
	}
}

// BenchmarkSSEThroughput measures the rewriter on an OpenAI-style stream
// of short clean deltas (the common case) parsed from 4 KiB chunks.
func BenchmarkSSEThroughput(b *testing.B) {
	e := sseTestEngine(b)
	parts := make([]string, 200)
	for i := range parts {
		parts[i] = "the quick brown fox "
	}
	stream := sseOpenAIStream(parts...)
	cuts := []int{}
	for c := 4096; c < len(stream); c += 4096 {
		cuts = append(cuts, c)
	}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := sseRewriteAll(b, e, "$.choices[*].delta.content", stream, cuts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(parts)+3)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
