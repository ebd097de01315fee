package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/veilproxy/veil/detectors"
)

// luhnCard returns a random Luhn-valid 16-digit Visa or Mastercard number.
func luhnCard(rng *rand.Rand) string {
	d := make([]byte, 16)
	if rng.IntN(2) == 0 {
		d[0] = 4
	} else {
		d[0], d[1] = 5, byte(1+rng.IntN(5))
	}
	start := 1
	if d[0] == 5 {
		start = 2
	}
	for i := start; i < 15; i++ {
		d[i] = byte(rng.IntN(10))
	}
	sum := 0
	for i := 14; i >= 0; i-- {
		v := int(d[i])
		if (14-i)%2 == 0 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	d[15] = byte((10 - sum%10) % 10)
	for i := range d {
		d[i] += '0'
	}
	return string(d)
}

// genDoc builds random JSON with cards in random places. It returns the
// document, the cards placed, and the spans of the values holding them with
// the text each must keep before and after the card.
type cardSpan struct {
	start, end    int // raw JSON token span in the document
	before, after string
	number        bool
}

type docGen struct {
	rng   *rand.Rand
	buf   bytes.Buffer
	cards []string // every secret placed, digits only
	spans []cardSpan
	kinds []secretKind // besides cards, the kinds the engine detects
}

// secretKind makes one kind of sensitive value: the text to place (with its
// context keyword, which must survive) and its digits.
type secretKind struct {
	name string
	make func(rng *rand.Rand) (context, value, digits string)
}

var secretKinds = []secretKind{
	{"ssn", func(rng *rand.Rand) (string, string, string) {
		area := 1 + rng.IntN(665) // 001-665: never 000, 666 or 9xx
		d := fmt.Sprintf("%03d%02d%04d", area, 1+rng.IntN(99), 1+rng.IntN(9999))
		return "SSN ", d[0:3] + "-" + d[3:5] + "-" + d[5:], d
	}},
	{"npi", func(rng *rand.Rand) (string, string, string) {
		d := []byte{byte('1' + rng.IntN(2))}
		for range 8 {
			d = append(d, byte('0'+rng.IntN(10)))
		}
		d = append(d, luhnCheck("80840"+string(d)))
		return "NPI ", string(d), string(d)
	}},
}

// luhnCheck returns the Luhn check digit for digits.
func luhnCheck(digits string) byte {
	sum := 0
	for i := len(digits) - 1; i >= 0; i-- {
		v := int(digits[i] - '0')
		if (len(digits)-1-i)%2 == 0 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return byte('0' + (10-sum%10)%10)
}

// detectedKinds returns the kinds the engine masks, logging the others.
func detectedKinds(t *testing.T, e *detectors.Engine) []secretKind {
	var out []secretKind
	rng := rand.New(rand.NewPCG(1, 2))
	for _, k := range secretKinds {
		ctx, v, _ := k.make(rng)
		got, _, err := e.Redact(context.Background(), []byte(ctx+v), detectors.RedactOptions{})
		if err != nil || strings.Contains(string(got), v) {
			t.Logf("engine does not mask %s yet: left out", k.name)
			continue
		}
		out = append(out, k)
	}
	return out
}

var words = []string{"hello", "my", "card", "is", "please", "thanks", "order", "the", "a", "ok", "é", "日本", "tab\there", "quote\"d", "back\\slash"}

func (g *docGen) ws() {
	for range g.rng.IntN(3) {
		g.buf.WriteByte(" \n\t"[g.rng.IntN(3)])
	}
}

func (g *docGen) text(n int) string {
	var parts []string
	for range n {
		parts = append(parts, words[g.rng.IntN(len(words))])
	}
	return strings.Join(parts, " ")
}

// formatCard writes the card plainly, grouped by spaces or dashes.
func (g *docGen) formatCard(c string) string {
	switch g.rng.IntN(3) {
	case 0:
		return c
	case 1:
		return c[0:4] + " " + c[4:8] + " " + c[8:12] + " " + c[12:16]
	}
	return c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16]
}

// quote encodes s as a JSON string, escaping some digits as \u00XX.
func (g *docGen) quote(s string) string {
	var b strings.Builder
	q := jsonQuote(s)
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c >= '0' && c <= '9' && g.rng.IntN(4) == 0 {
			fmt.Fprintf(&b, `\u%04x`, c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (g *docGen) value(depth int) {
	switch n := g.rng.IntN(10); {
	case depth < 4 && n < 2:
		g.buf.WriteByte('{')
		for i := range g.rng.IntN(4) {
			if i > 0 {
				g.buf.WriteByte(',')
			}
			g.ws()
			g.buf.WriteString(jsonQuote(g.text(1) + fmt.Sprint(i)))
			g.ws()
			g.buf.WriteByte(':')
			g.ws()
			g.value(depth + 1)
			g.ws()
		}
		g.buf.WriteByte('}')
	case depth < 4 && n < 4:
		g.buf.WriteByte('[')
		for i := range g.rng.IntN(4) {
			if i > 0 {
				g.buf.WriteByte(',')
			}
			g.ws()
			g.value(depth + 1)
			g.ws()
		}
		g.buf.WriteByte(']')
	case n < 6:
		c := luhnCard(g.rng)
		value := g.formatCard(c)
		before, after := "", ""
		if g.rng.IntN(2) == 0 {
			before = g.text(1+g.rng.IntN(3)) + " "
		}
		if len(g.kinds) > 0 && g.rng.IntN(2) == 0 {
			var ctx string
			ctx, value, c = g.kinds[g.rng.IntN(len(g.kinds))].make(g.rng)
			before += ctx
		}
		g.cards = append(g.cards, c)
		if g.rng.IntN(2) == 0 {
			after = " " + g.text(1+g.rng.IntN(3))
		}
		start := g.buf.Len()
		g.buf.WriteString(g.quote(before + value + after))
		g.spans = append(g.spans, cardSpan{start: start, end: g.buf.Len(), before: before, after: after})
	case n < 7:
		c := luhnCard(g.rng)
		g.cards = append(g.cards, c)
		start := g.buf.Len()
		g.buf.WriteString(c)
		g.spans = append(g.spans, cardSpan{start: start, end: g.buf.Len(), number: true})
	case n < 8:
		g.buf.WriteString(g.quote(g.text(g.rng.IntN(5))))
	case n < 9:
		g.buf.WriteString([]string{"true", "false", "null", "0", "-1.5e3", "42"}[g.rng.IntN(6)])
	default:
		g.buf.WriteString(`"\ud83d\ude00 \u00e9\n"`)
	}
}

// TestPropertyNoCardReachesUpstream sends random JSON documents holding
// random Luhn-valid cards (and SSNs and NPIs with their keyword, once the
// engine detects them) through the proxy and checks that the upstream sees
// none of them while every byte outside the values holding them
// arrives unchanged.
func TestPropertyNoCardReachesUpstream(t *testing.T) {
	e := httpEngine(t, detectors.Config{})
	rec := newRecorder(t, nil)
	_, srv := newTestProxy(t, cfgFor(rec.srv.URL), Options{Engine: e})
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 7))
	kinds := detectedKinds(t, e)
	for iter := range 150 {
		g := &docGen{rng: rng, kinds: kinds}
		g.buf.WriteString(`{"m":`)
		g.value(0)
		g.buf.WriteString(`,"end":true}`)
		doc := g.buf.String()
		if !json.Valid([]byte(doc)) {
			t.Fatalf("seed %d iter %d: generator made invalid JSON: %s", seed, iter, doc)
		}
		resp, _ := post(t, srv.URL+"/m", "application/json", doc)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("seed %d iter %d: status %d", seed, iter, resp.StatusCode)
		}
		out := string(rec.last(t).Body)
		if !json.Valid([]byte(out)) {
			t.Fatalf("seed %d iter %d: upstream got invalid JSON: %s", seed, iter, out)
		}
		compact := strings.NewReplacer(" ", "", "-", "").Replace(out)
		for _, c := range g.cards {
			if strings.Contains(compact, c) {
				t.Fatalf("seed %d iter %d: card %s reached the upstream:\nin:  %s\nout: %s", seed, iter, c, doc, out)
			}
		}
		checkIntact(t, doc, out, g.spans, fmt.Sprintf("seed %d iter %d", seed, iter))
	}
}

// checkIntact checks that out is in with only the spans replaced, each by a
// JSON string that keeps the span's text before and after its card.
func checkIntact(t *testing.T, in, out string, spans []cardSpan, where string) {
	t.Helper()
	last, o := 0, 0
	for _, sp := range spans {
		keep := in[last:sp.start]
		if !strings.HasPrefix(out[o:], keep) {
			t.Fatalf("%s: bytes before offset %d changed:\nin:  %s\nout: %s", where, sp.start, in, out)
		}
		o += len(keep)
		end := jsonTokenEnd(out, o)
		if end < 0 {
			t.Fatalf("%s: no value at output offset %d: %s", where, o, out)
		}
		var v string
		if err := json.Unmarshal([]byte(out[o:end]), &v); err != nil {
			t.Fatalf("%s: replacement %s is not a string: %v", where, out[o:end], err)
		}
		if !strings.HasPrefix(v, sp.before) || !strings.HasSuffix(v, sp.after) {
			t.Fatalf("%s: text around a card changed: %q, want prefix %q suffix %q", where, v, sp.before, sp.after)
		}
		o, last = end, sp.end
	}
	if out[o:] != in[last:] {
		t.Fatalf("%s: trailing bytes changed:\nin:  %s\nout: %s", where, in, out)
	}
}

// jsonTokenEnd returns the end of the string or number token at i.
func jsonTokenEnd(s string, i int) int {
	if i >= len(s) {
		return -1
	}
	if s[i] != '"' {
		j := i
		for j < len(s) && strings.IndexByte("0123456789+-.eE", s[j]) >= 0 {
			j++
		}
		return j
	}
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}
