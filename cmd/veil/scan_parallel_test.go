package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/veilproxy/veil/detectors"
)

// benchChat returns about n bytes of support chat like the scan benchmark
// generates: a time stamp and a name on every line, now and then a value.
func benchChat(n int) []byte {
	rng := rand.New(rand.NewPCG(3, 4))
	plain := []string{
		"Hi %s, thanks for reaching out to support today. How can I help?",
		"I was charged twice for order %d and would like a refund please",
		"The pharmacy says the prescription was sent but they have not received it yet",
		"Tracking number 1Z999AA1%d shows it left the warehouse on Monday",
		"I have uploaded the documents, let me know if anything else is missing",
		"The doctor asked for the lab results from last week before the follow-up visit",
		"ok thanks, that worked! have a great day",
	}
	secret := []string{
		"my card is " + testCard + " exp 09/28",
		"Medicare number " + testMBI + " for my mother",
		"the referring provider NPI is 1234567893",
		"please call me back at (415) 555-0132",
		"Patient: Mary O'Neil, DOB: 03/14/1985, MRN: 12345678",
	}
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, "[%02d:%02d] Maria: ", rng.IntN(24), rng.IntN(60))
		if rng.IntN(40) == 0 {
			b.WriteString(secret[rng.IntN(len(secret))])
		} else {
			tpl := plain[rng.IntN(len(plain))]
			if strings.Contains(tpl, "%s") {
				fmt.Fprintf(&b, tpl, "Tom")
			} else if strings.Contains(tpl, "%d") {
				fmt.Fprintf(&b, tpl, rng.IntN(1000000))
			} else {
				b.WriteString(tpl)
			}
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// corpusLines returns the texts of the labelled corpus, one per line.
func corpusLines(t *testing.T) []byte {
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "corpus", "*.jsonl"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	var b bytes.Buffer
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for line := range bytes.Lines(data) {
			var l struct {
				Text string `json:"text"`
			}
			if err := json.Unmarshal(line, &l); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			b.WriteString(strings.ReplaceAll(l.Text, "\n", " ") + "\n")
		}
	}
	return b.Bytes()
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

func TestScanTextParallelMatchesOneStream(t *testing.T) {
	eng, err := detectors.Compile(detectors.Config{})
	if err != nil {
		t.Fatal(err)
	}
	corpus := corpusLines(t)
	tests := []struct {
		name string
		text []byte
	}{
		{"bench chat", benchChat(3 << 20)},
		{"corpus lines", bytes.Repeat(corpus, (2<<20)/len(corpus)+1)},
		{"no place to cut", bytes.Repeat([]byte("call the doctor, card "+testCard+"\n"), (1<<20)/40)},
		{"small", corpus[:min(len(corpus), 5000)]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want bytes.Buffer
			wantFound, err := streamText(t.Context(), eng, nil, bytes.NewReader(tt.text), &want)
			if err != nil {
				t.Fatal(err)
			}
			readers := map[string]io.Reader{
				"full reads":  bytes.NewReader(tt.text),
				"short reads": iotest.HalfReader(bytes.NewReader(tt.text)),
				"odd reads":   chunkReader{bytes.NewReader(tt.text), 7777},
			}
			for name, r := range readers {
				var got bytes.Buffer
				found, err := scanText(t.Context(), eng, r, &got)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if found != wantFound {
					t.Errorf("%s: found = %v, one stream: %v", name, found, wantFound)
				}
				if !bytes.Equal(got.Bytes(), want.Bytes()) {
					i := 0
					for i < got.Len() && i < want.Len() && got.Bytes()[i] == want.Bytes()[i] {
						i++
					}
					t.Errorf("%s: output differs from one stream from byte %d (%d vs %d bytes)", name, i, got.Len(), want.Len())
				}
			}
		})
	}
	// The test must cut: the bench chat has places to cut.
	if p := eng.SafeCut(benchChat(scanBlock+scanAhead), scanBlock); p < 0 {
		t.Error("no cut found in the bench chat: text mode would not use both cores")
	}
}

func TestScanTextParallelErrors(t *testing.T) {
	eng, err := detectors.Compile(detectors.Config{})
	if err != nil {
		t.Fatal(err)
	}
	text := benchChat(2 << 20)
	errRead := errors.New("disk gone")
	t.Run("read error after some blocks", func(t *testing.T) {
		r := io.MultiReader(bytes.NewReader(text), iotest.ErrReader(errRead))
		_, err := scanText(t.Context(), eng, r, io.Discard)
		if !errors.Is(err, errRead) {
			t.Errorf("err = %v, want %v", err, errRead)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		var out bytes.Buffer
		_, err := scanText(ctx, eng, bytes.NewReader(text), &out)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if out.Len() > 0 {
			t.Errorf("%d bytes written after cancellation", out.Len())
		}
	})
}
