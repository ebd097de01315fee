package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/veilproxy/veil/detectors"
)

// streamWord returns a random clean word for the property tests: no
// digits, so that every digit in an output comes from a value.
func streamWord(r *rand.Rand) string {
	words := [...]string{"hello", "my", "order", "is", "late", "please", "check", "thanks", "and", "the", "number", "here"}
	return words[r.IntN(len(words))]
}

// luhnComplete appends the check digit that makes digits pass Luhn.
func luhnComplete(digits string) string {
	sum := 0
	for i := 0; i < len(digits); i++ {
		d := int(digits[len(digits)-1-i] - '0')
		if i%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return digits + fmt.Sprint((10-sum%10)%10)
}

// sensitiveValue returns a generated card number, SSN or NPI (by kind) as
// written and its digits.
func sensitiveValue(r *rand.Rand, kind string) (written, digits string) {
	randDigits := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteByte(byte('0' + r.IntN(10)))
		}
		return b.String()
	}
	k := r.IntN(3)
	switch kind {
	case "card":
		k = 0
	case "ssn":
		k = 1
	case "npi":
		k = 2
	}
	switch k {
	case 0: // Visa or Mastercard, spaced, dashed or plain
		prefix := "4"
		if r.IntN(2) == 0 {
			prefix = fmt.Sprint(51 + r.IntN(5))
		}
		d := luhnComplete(prefix + randDigits(15-len(prefix)))
		sep := []string{" ", "-", ""}[r.IntN(3)]
		return d[:4] + sep + d[4:8] + sep + d[8:12] + sep + d[12:], d
	case 1: // SSN in a valid range
		area := 1 + r.IntN(665)
		if area == 666 {
			area = 667
		}
		d := fmt.Sprintf("%03d%02d%04d", area, 1+r.IntN(99), 1+r.IntN(9999))
		return d[:3] + "-" + d[3:5] + "-" + d[5:], d
	default: // NPI: Luhn over the 80840 prefix
		body := fmt.Sprint(1+r.IntN(2)) + randDigits(8)
		full := luhnComplete("80840" + body)
		d := body + full[len(full)-1:]
		return "NPI " + d, d
	}
}

// sensitiveText builds a text of clean words with n values in random
// places, and returns it with the values' digits and as written.
func sensitiveText(r *rand.Rand, kind string, n int) (text string, values, written []string) {
	var parts []string
	for i := 0; i < n; i++ {
		for j := 0; j < 1+r.IntN(4); j++ {
			parts = append(parts, streamWord(r))
		}
		w, d := sensitiveValue(r, kind)
		parts = append(parts, w)
		values = append(values, d)
		written = append(written, w)
	}
	parts = append(parts, streamWord(r))
	return strings.Join(parts, " "), values, written
}

// randomCuts cuts s at up to n random places.
func randomCuts(r *rand.Rand, s string, n int) []string {
	cuts := map[int]bool{}
	for i := 0; i < n && len(s) > 1; i++ {
		cuts[1+r.IntN(len(s)-1)] = true
	}
	var out []string
	last := 0
	for i := 1; i < len(s); i++ {
		if cuts[i] {
			out = append(out, s[last:i])
			last = i
		}
	}
	return append(out, s[last:])
}

// assertClean fails when out holds one of values (its digits in a row,
// once separators are dropped) or lost one of the clean words of in.
func assertClean(t *testing.T, what, in, out string, values []string) {
	t.Helper()
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		if r == ' ' || r == '-' {
			return -1
		}
		return '|'
	}, out)
	for _, v := range values {
		if strings.Contains(digits, v) {
			t.Fatalf("%s: a generated value reached the other side\nin:  %q\nout: %q", what, in, out)
		}
	}
	rest := out
	for _, w := range strings.Fields(in) {
		if strings.IndexFunc(w, func(r rune) bool { return r >= '0' && r <= '9' }) >= 0 || w == "NPI" {
			continue
		}
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("%s: clean word %q lost\nin:  %q\nout: %q", what, w, in, out)
		}
		rest = rest[i+len(w):]
	}
}

// TestSSEPropertyNoLeak puts generated values in random places of a
// completion, splits it at random across events and the stream at random
// across chunks, and checks what the client gets.
func TestSSEPropertyNoLeak(t *testing.T) {
	e := sseTestEngine(t)
	for ki, kind := range []string{"card", "ssn", "npi", "mixed"} {
		t.Run(kind, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(ki)))
			for i := 0; i < 100; i++ {
				text, values, _ := sensitiveText(r, kind, 1+r.IntN(3))
				stream := sseOpenAIStream(jsonEscapes(randomCuts(r, text, 1+r.IntN(12)))...)
				var cuts []int
				for j := 0; j < r.IntN(6); j++ {
					cuts = append(cuts, r.IntN(len(stream)+1))
				}
				slices.Sort(cuts)
				out, err := sseRewriteAll(t, e, "$.choices[*].delta.content", stream, cuts)
				if err != nil {
					t.Fatal(err)
				}
				texts, done := sseContents(t, out)
				if !done {
					t.Fatalf("no [DONE] last: %q", out)
				}
				assertClean(t, "sse", text, texts[0], values)
				assertClean(t, "sse stream", text, out, values)
			}
		})
	}
}

// TestWebSocketPropertyNoLeak types generated values across consecutive
// messages to an echo upstream: neither the upstream nor the client may
// see a whole value.
func TestWebSocketPropertyNoLeak(t *testing.T) {
	up := newWSUpstream(t, nil)
	env := newStreamEnv(t, up.srv.URL, wsRoutes(), Limits{}, nil, Options{})
	var all []string
	for ki, kind := range []string{"card", "ssn", "npi", "mixed"} {
		t.Run(kind, func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, uint64(ki)))
			for i := 0; i < 10; i++ {
				c := wsDial(t, env, nil)
				before := len(up.received())
				text, values, written := sensitiveText(r, kind, 1+r.IntN(3))
				all = append(all, written...)
				var back strings.Builder
				for _, piece := range randomCuts(r, text, 1+r.IntN(6)) {
					msg, _ := json.Marshal(map[string]string{"type": "typing", "text": piece})
					var got struct{ Text string }
					if err := json.Unmarshal([]byte(wsRoundTrip(t, c, string(msg))), &got); err != nil {
						t.Fatal(err)
					}
					back.WriteString(got.Text)
				}
				var sent strings.Builder
				for _, m := range up.received()[before:] {
					var got struct{ Text string }
					if err := json.Unmarshal([]byte(m), &got); err != nil {
						t.Fatal(err)
					}
					sent.WriteString(got.Text)
				}
				assertClean(t, "to upstream", text, sent.String(), values)
				assertClean(t, "to client", text, back.String(), values)
				_ = c.Close(websocket.StatusNormalClosure, "")
			}
		})
	}
	env.assertNoLeak(t, all...)
}

// FuzzSSESplit checks split invariance of the whole SSE pipeline: a text
// streamed in any number of deltas, over any chunking of the byte stream,
// reaches the client as the same text as when sent in one delta, and that
// is what the engine makes of the whole text.
func FuzzSSESplit(f *testing.F) {
	f.Add("card 4111 1111 1111 1111 done", uint16(7), uint16(13), uint16(40))
	f.Add("4111111111111111", uint16(1), uint16(2), uint16(3))
	f.Add("ssn 123-45-6789 and npi 1234567893", uint16(5), uint16(100), uint16(9))
	f.Add("no numbers here at all", uint16(0), uint16(0), uint16(0))
	e := sseTestEngine(f)
	f.Fuzz(func(t *testing.T, text string, c1, c2, c3 uint16) {
		if !utf8Valid(text) || len(text) > 4096 {
			t.Skip()
		}
		want, _, err := e.Redact(context.Background(), []byte(text), detectors.RedactOptions{})
		if err != nil {
			t.Skip()
		}
		var deltas []string
		last := 0
		for _, c := range []int{int(c1), int(c2)} {
			c = c % (len(text) + 1)
			if c <= last {
				continue
			}
			for c < len(text) && !utf8Start(text[c]) {
				c++
			}
			deltas = append(deltas, text[last:c])
			last = c
		}
		deltas = append(deltas, text[last:])
		stream := sseOpenAIStream(jsonEscapes(deltas)...)
		out, err := sseRewriteAll(t, e, "$.choices[*].delta.content", stream, []int{int(c3) % (len(stream) + 1)})
		if err != nil {
			t.Fatal(err)
		}
		texts, done := sseContents(t, out)
		if !done {
			t.Fatalf("no [DONE] last: %q", out)
		}
		if texts[0] != string(want) {
			t.Fatalf("split output %q, whole %q", texts[0], want)
		}
	})
}

// jsonEscapes escapes each part for a JSON string literal (without quotes).
func jsonEscapes(parts []string) []string {
	out := make([]string, len(parts))
	for i, p := range parts {
		b, _ := json.Marshal(p)
		out[i] = string(b[1 : len(b)-1])
	}
	return out
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\ufffd") == s }
