package proxy

import (
	"bytes"
	"errors"
)

// errSSEEventTooLarge reports an event (or a single unterminated line) longer
// than the configured max_sse_event.
var errSSEEventTooLarge = errors.New("server-sent event too large")

// sseLine is one line of an event stream as it arrived: the line without its
// terminator, and the terminator ("\n", "\r\n" or "\r").
type sseLine struct {
	raw []byte
	eol string
}

// field splits l into its field name and value as the event stream format
// defines them: the name runs to the first colon, and one space after the
// colon is not part of the value. A comment has an empty name.
func (l sseLine) field() (name, value []byte) {
	i := bytes.IndexByte(l.raw, ':')
	if i < 0 {
		return l.raw, nil
	}
	name, value = l.raw[:i], l.raw[i+1:]
	if len(value) > 0 && value[0] == ' ' {
		value = value[1:]
	}
	return name, value
}

// isComment reports whether l is a comment line.
func (l sseLine) isComment() bool { return len(l.raw) > 0 && l.raw[0] == ':' }

// sseEvent is one event: its field and comment lines in order, and the
// terminator of the blank line that ended it. An event that the stream ended
// before its blank line gets "\n" as its terminator when it is re-emitted.
type sseEvent struct {
	lines []sseLine
	end   string
}

// data returns the event's data (its data lines joined with "\n") and
// whether it has any data line at all.
func (e *sseEvent) data() ([]byte, bool) {
	var out []byte
	found := false
	for _, l := range e.lines {
		name, value := l.field()
		if l.isComment() || string(name) != "data" {
			continue
		}
		if found {
			out = append(out, '\n')
		}
		found = true
		out = append(out, value...)
	}
	return out, found
}

// setData replaces the event's data lines with data, split on "\n" into as
// many data lines as it needs, at the place of the first data line and with
// its spelling ("data:" or "data: ") and terminator. Other lines keep their
// place. It returns false when the event has no data line.
func (e *sseEvent) setData(data []byte) bool {
	first := -1
	for i, l := range e.lines {
		name, _ := l.field()
		if !l.isComment() && string(name) == "data" {
			first = i
			break
		}
	}
	if first < 0 {
		return false
	}
	prefix := "data:"
	if fl := e.lines[first].raw; len(fl) > 5 && fl[5] == ' ' {
		prefix = "data: "
	}
	eol := e.lines[first].eol
	out := make([]sseLine, 0, len(e.lines))
	for i, l := range e.lines {
		name, _ := l.field()
		isData := !l.isComment() && string(name) == "data"
		switch {
		case i == first:
			for _, part := range bytes.Split(data, []byte{'\n'}) {
				pre := prefix
				if len(part) > 0 && part[0] == ' ' {
					pre = "data: " // the reader strips one space
				}
				raw := make([]byte, 0, len(pre)+len(part))
				raw = append(append(raw, pre...), part...)
				out = append(out, sseLine{raw: raw, eol: eol})
			}
		case isData:
			// folded into the first data line
		default:
			out = append(out, l)
		}
	}
	e.lines = out
	return true
}

// appendTo appends the event in wire form to b.
func (e *sseEvent) appendTo(b []byte) []byte {
	for _, l := range e.lines {
		b = append(b, l.raw...)
		b = append(b, l.eol...)
	}
	end := e.end
	if end == "" {
		end = "\n"
	}
	return append(b, end...)
}

// clone returns a deep copy of e.
func (e *sseEvent) clone() *sseEvent {
	c := &sseEvent{end: e.end, lines: make([]sseLine, len(e.lines))}
	for i, l := range e.lines {
		c.lines[i] = sseLine{raw: bytes.Clone(l.raw), eol: l.eol}
	}
	return c
}

// sseParser splits an event stream into events as bytes arrive, in chunks
// cut anywhere. Lines end in "\n", "\r\n" or "\r"; a blank line ends an
// event. It holds at most one event (bounded by max) and one partial line.
type sseParser struct {
	max     int    // largest event in bytes, terminators included; 0: no limit
	partial []byte // the start of a line whose terminator has not arrived
	cur     sseEvent
	size    int // bytes of cur so far
}

// feed parses b and calls emit for every event it completes, in order.
// The events passed to emit are only valid during the call.
func (p *sseParser) feed(b []byte, emit func(*sseEvent) error) error {
	for len(b) > 0 {
		// A "\r" held from the previous chunk may be the first half of "\r\n".
		if n := len(p.partial); n > 0 && p.partial[n-1] == '\r' {
			line := p.partial[:n-1]
			eol := "\r"
			if b[0] == '\n' {
				eol = "\r\n"
				b = b[1:]
			}
			if err := p.line(line, eol, emit); err != nil {
				return err
			}
			p.partial = p.partial[:0]
			continue
		}
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			if err := p.grow(len(b)); err != nil {
				return err
			}
			p.partial = append(p.partial, b...)
			return nil
		}
		if b[i] == '\r' && i == len(b)-1 {
			// Wait for the next byte to tell "\r" from "\r\n".
			if err := p.grow(len(b)); err != nil {
				return err
			}
			p.partial = append(p.partial, b...)
			return nil
		}
		eol := "\n"
		next := i + 1
		if b[i] == '\r' {
			eol = "\r"
			if b[i+1] == '\n' {
				eol = "\r\n"
				next = i + 2
			}
		}
		var line []byte
		if len(p.partial) > 0 {
			if err := p.grow(i); err != nil {
				return err
			}
			line = append(p.partial, b[:i]...)
		} else {
			line = b[:i]
		}
		if err := p.line(line, eol, emit); err != nil {
			return err
		}
		p.partial = p.partial[:0]
		b = b[next:]
	}
	return nil
}

// finish ends the stream: a partial line becomes the event's last line and
// an event still open is emitted as if a blank line had ended it.
func (p *sseParser) finish(emit func(*sseEvent) error) error {
	if n := len(p.partial); n > 0 {
		line, eol := p.partial, ""
		if line[n-1] == '\r' {
			line, eol = line[:n-1], "\r"
		}
		if err := p.line(line, eol, emit); err != nil {
			return err
		}
		p.partial = p.partial[:0]
	}
	if len(p.cur.lines) == 0 {
		return nil
	}
	for i := range p.cur.lines {
		if p.cur.lines[i].eol == "" {
			p.cur.lines[i].eol = "\n"
		}
	}
	return p.dispatch("", emit)
}

// grow accounts for n more bytes of the current event.
func (p *sseParser) grow(n int) error {
	p.size += n
	if p.max > 0 && p.size > p.max {
		return errSSEEventTooLarge
	}
	return nil
}

// line handles one complete line. It is called with the line's bytes
// already counted by grow when they came from partial.
func (p *sseParser) line(raw []byte, eol string, emit func(*sseEvent) error) error {
	if len(p.partial) == 0 {
		if err := p.grow(len(raw)); err != nil {
			return err
		}
	}
	if err := p.grow(len(eol)); err != nil {
		return err
	}
	if len(raw) == 0 && eol != "" {
		return p.dispatch(eol, emit)
	}
	p.cur.lines = append(p.cur.lines, sseLine{raw: bytes.Clone(raw), eol: eol})
	return nil
}

// dispatch emits the current event and starts the next.
func (p *sseParser) dispatch(end string, emit func(*sseEvent) error) error {
	p.cur.end = end
	err := emit(&p.cur)
	p.cur = sseEvent{lines: p.cur.lines[:0]}
	p.size = 0
	return err
}
