package proxy

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// sseRefEvent is an event as a browser's EventSource sees it.
type sseRefEvent struct {
	Data, Event, ID string
	HasData         bool
}

// sseRefParse parses a whole event stream the way the HTML standard describes,
// except that an event the stream ends before its blank line is kept (the
// proxy completes such an event instead of dropping its bytes).
func sseRefParse(s string) []sseRefEvent {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	var out []sseRefEvent
	var cur sseRefEvent
	var data []string
	open := false
	flush := func() {
		if open {
			cur.Data = strings.Join(data, "\n")
			cur.HasData = len(data) > 0
			out = append(out, cur)
		}
		cur, data, open = sseRefEvent{}, nil, false
	}
	lines := strings.Split(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for _, l := range lines {
		if l == "" {
			flush()
			continue
		}
		open = true
		if l[0] == ':' {
			continue
		}
		name, value, found := strings.Cut(l, ":")
		if found && strings.HasPrefix(value, " ") {
			value = value[1:]
		}
		switch name {
		case "data":
			data = append(data, value)
		case "event":
			cur.Event = value
		case "id":
			cur.ID = value
		}
	}
	flush()
	return out
}

// sseParseAll runs the parser over in, cut at the given offsets, and returns
// the re-emitted stream (with setData applied to every event that has data
// when rewrite is set) and the events' data.
func sseParseAll(t testing.TB, in []byte, cuts []int, rewrite bool) ([]byte, []string, error) {
	t.Helper()
	p := sseParser{max: 1 << 20}
	var out []byte
	var datas []string
	emit := func(e *sseEvent) error {
		if d, ok := e.data(); ok {
			datas = append(datas, string(d))
			if rewrite {
				e.setData(d)
			}
		}
		out = e.appendTo(out)
		return nil
	}
	last := 0
	for _, c := range cuts {
		if c < last || c > len(in) {
			continue
		}
		if err := p.feed(in[last:c], emit); err != nil {
			return out, datas, err
		}
		last = c
	}
	if err := p.feed(in[last:], emit); err != nil {
		return out, datas, err
	}
	return out, datas, p.finish(emit)
}

func TestSSEParse(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		datas []string
	}{
		{"lf", "data: a\n\ndata: b\n\n", []string{"a", "b"}},
		{"crlf", "data: a\r\n\r\ndata:b\r\n\r\n", []string{"a", "b"}},
		{"cr", "data: a\r\rdata: b\r\r", []string{"a", "b"}},
		{"multiline", "data: a\ndata:  b\ndata\n\n", []string{"a\n b\n"}},
		{"fields kept", ": hi\nid: 7\nevent: x\nretry: 10\ndata: {}\n\n", []string{"{}"}},
		{"no data", ": keepalive\n\nid: 1\n\n", nil},
		{"unterminated", "data: a\n\ndata: b", []string{"a", "b"}},
		{"mixed endings", "data: a\r\ndata: b\rdata: c\n\r\n", []string{"a\nb\nc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in)
			for cut := 0; cut <= len(in); cut++ {
				out, datas, err := sseParseAll(t, in, []int{cut}, false)
				if err != nil {
					t.Fatalf("cut %d: %v", cut, err)
				}
				if strings.Join(datas, "|") != strings.Join(tt.datas, "|") {
					t.Fatalf("cut %d: data %q, want %q", cut, datas, tt.datas)
				}
				if !bytes.HasPrefix(out, in) || strings.Trim(string(out[len(in):]), "\n") != "" {
					t.Fatalf("cut %d: re-emitted %q from %q", cut, out, in)
				}
			}
		})
	}
}

func TestSSEParseLimit(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"long line", "data: " + strings.Repeat("x", 100) + "\n\n"},
		{"unterminated line", "data: " + strings.Repeat("x", 100)},
		{"many lines", strings.Repeat("data: xxxxxxxxx\n", 20) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := sseParser{max: 64}
			emit := func(*sseEvent) error { return nil }
			err := p.feed([]byte(tt.in), emit)
			if err == nil {
				err = p.finish(emit)
			}
			if !errors.Is(err, errSSEEventTooLarge) {
				t.Fatalf("err = %v, want errSSEEventTooLarge", err)
			}
		})
	}
}

// FuzzSSEParse checks that the parser never panics, that re-emitting the
// events it finds gives back the input (completed at the end when the
// stream stops mid-event), whatever the split, and that rewriting every
// event's data with itself keeps the stream equivalent for a reader.
func FuzzSSEParse(f *testing.F) {
	f.Add([]byte("data: a\n\n"), uint16(3), uint16(5))
	f.Add([]byte("data: a\r\n\r\nid: 1\revent: e\r: c\rdata:b\r\r"), uint16(7), uint16(8))
	f.Add([]byte(": ping\n\nretry: 10\ndata\ndata: x\n\ndata: [DONE]\n\n"), uint16(1), uint16(30))
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"4111\"}}]}\r\n\r\n"), uint16(0), uint16(49))
	f.Fuzz(func(t *testing.T, in []byte, c1, c2 uint16) {
		cuts := []int{int(c1) % (len(in) + 1), int(c2) % (len(in) + 1)}
		if cuts[0] > cuts[1] {
			cuts[0], cuts[1] = cuts[1], cuts[0]
		}
		out, datas, err := sseParseAll(t, in, cuts, false)
		if err != nil {
			t.Fatal(err)
		}
		whole, wholeDatas, _ := sseParseAll(t, in, nil, false)
		if !bytes.Equal(out, whole) || strings.Join(datas, "\x00") != strings.Join(wholeDatas, "\x00") {
			t.Fatalf("split changed the result: %q vs %q", out, whole)
		}
		if !bytes.HasPrefix(out, in) || strings.Trim(string(out[len(in):]), "\r\n") != "" {
			t.Fatalf("re-emitted %q from %q", out, in)
		}
		rewritten, _, err := sseParseAll(t, in, cuts, true)
		if err != nil {
			t.Fatal(err)
		}
		want, got := sseRefParse(string(out)), sseRefParse(string(rewritten))
		if len(want) != len(got) {
			t.Fatalf("rewrite changed the event count: %d, want %d", len(got), len(want))
		}
		for i := range want {
			if want[i] != got[i] {
				t.Fatalf("event %d: %+v, want %+v", i, got[i], want[i])
			}
		}
	})
}
