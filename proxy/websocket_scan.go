package proxy

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/veilproxy/veil/detectors"
)

// wsTailSize is how much released text per field a WebSocket connection
// keeps, per direction, so that a value typed across consecutive messages
// is caught in the later one. It covers the longest built-in value with
// separators and its context keyword.
const wsTailSize = 128

// wsMaxTails bounds the fields whose state one direction keeps.
const wsMaxTails = 32

// wsEnv is what a wsScanner needs from the proxy.
type wsEnv struct {
	json         bool       // messages are JSON (route websocket.body: json)
	skip, strict []jsonPath // JSON paths never scanned / scanned strictly
	// redact scans one value; it returns *blockedError for a block.
	redact func(ctx context.Context, direction string, text []byte, opts detectors.RedactOptions) ([]byte, []detectors.Finding, error)
	// secure answers "/secure NAME"; nil: the command is off.
	secure   func(ctx context.Context, form string) (invitation string, ok bool, err error)
	diverter detectors.Diverter
	// thread is shared by the connection's two directions; nil: each
	// direction is read on its own.
	thread *wsThread
}

// wsThread is what the two directions of a connection know of each other:
// which spoke last, and the question or label its last message ended with.
// A question in one direction is the context of the answer in the other
// ("What are the last 4 of your SSN?", then "8741"). It holds released
// text only.
type wsThread struct {
	mu       sync.Mutex
	seq      uint64
	last     [2]uint64 // per direction: the seq of its last message
	question [2][]byte // per direction: the question its last message ended with
}

// wsQuestionSize bounds the question kept: the line it ends.
const wsQuestionSize = 96

// questionOf returns the last line of released text when it is a question
// or a label (ends with '?' or ':'), at most wsQuestionSize bytes, and a
// line break after it: context for the next line, the answer. Else nil.
func questionOf(released []byte) []byte {
	line := bytes.TrimRight(released, " \t\r\n")
	if n := len(line); n == 0 || line[n-1] != '?' && line[n-1] != ':' {
		return nil
	}
	if i := bytes.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	line = line[max(0, len(line)-wsQuestionSize):]
	return append(append([]byte(nil), line...), '\n')
}

// begin starts a message of side: the question the other side asked, if
// it spoke last.
func (t *wsThread) begin(side int) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	if other := 1 - side; t.last[other] > t.last[side] {
		return t.question[other]
	}
	return nil
}

// end records a message of side and the question it ended with.
func (t *wsThread) end(side int, question []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	t.last[side] = t.seq
	t.question[side] = question
}

// wsScanner scans the text messages of one WebSocket connection in one
// direction. It keeps, per JSON field (array positions folded), the tail of
// the text it released, passed as RedactOptions.Preceding for the next
// message, and whether that message ended with a card number (passed as
// RedactOptions.AfterCard: a visitor often sends the card, its expiry and
// its code as three messages). Not safe for concurrent use: one per
// direction.
type wsScanner struct {
	env       *wsEnv
	direction string // "request" (client to upstream) or "response"
	side      int    // 0 request, 1 response: its index in env.thread
	fields    map[string]*wsField
	order     []string // fields' keys, oldest first
	// For the message being scanned: the other side's question it
	// answers, and the question it ends with.
	answers, asks []byte
}

// newWSScanner starts the scanner of one direction of a connection.
func newWSScanner(env *wsEnv, direction string) *wsScanner {
	s := &wsScanner{env: env, direction: direction, fields: make(map[string]*wsField)}
	if direction == "response" {
		s.side = 1
	}
	return s
}

// scan returns the message to forward in place of msg.
//
// JSON messages have every string value and number literal scanned (skip
// paths excepted, strict paths strictly). A message that is not JSON on a
// JSON route is still scanned: Socket.IO-style frames (a numeric packet
// type followed by JSON) have their JSON part rewritten, anything else is
// scanned as one text. Nothing is forwarded unscanned.
func (s *wsScanner) scan(ctx context.Context, msg []byte) ([]byte, error) {
	if s.env.thread == nil {
		return s.scanMessage(ctx, msg)
	}
	s.answers, s.asks = s.env.thread.begin(s.side), nil
	out, err := s.scanMessage(ctx, msg)
	if err == nil {
		s.env.thread.end(s.side, s.asks)
	}
	return out, err
}

// scanMessage is scan without the thread's bookkeeping.
func (s *wsScanner) scanMessage(ctx context.Context, msg []byte) ([]byte, error) {
	if !s.env.json {
		return s.value(ctx, "", msg, false, false)
	}
	out, err := s.scanJSON(ctx, msg)
	if !errors.Is(err, errMalformed) {
		return out, err
	}
	if i := packetPrefix(msg); i > 0 {
		out, err := s.scanJSON(ctx, msg[i:])
		if err == nil {
			return append(msg[:i:i], out...), nil
		}
		if !errors.Is(err, errMalformed) {
			return nil, err
		}
	}
	return s.value(ctx, "", msg, false, false)
}

// packetPrefix returns the length of a leading run of ASCII digits followed
// by the start of a JSON array or object, or 0.
func packetPrefix(msg []byte) int {
	i := 0
	for i < len(msg) && i < 8 && msg[i] >= '0' && msg[i] <= '9' {
		i++
	}
	if i == 0 || i == len(msg) || (msg[i] != '[' && msg[i] != '{') {
		return 0
	}
	return i
}

// scanJSON rewrites every string value and number literal of doc.
func (s *wsScanner) scanJSON(ctx context.Context, doc []byte) ([]byte, error) {
	return rewriteJSON(doc, func(at []string, value string, isNumber bool) (string, bool, error) {
		if anyCovers(s.env.skip, at) {
			return "", false, nil
		}
		out, err := s.value(ctx, tailKey(at), []byte(value), isNumber, anyCovers(s.env.strict, at))
		if err != nil {
			return "", false, err
		}
		return string(out), string(out) != value, nil
	})
}

// tailKey names a field for its tail: the path with array positions folded,
// so that $.messages[3].text continues $.messages[2].text.
func tailKey(at []string) string {
	var b strings.Builder
	for _, seg := range at {
		b.WriteByte(0)
		if isIndex(seg) {
			b.WriteByte('*')
			continue
		}
		b.WriteString(seg)
	}
	return b.String()
}

// value scans one value (a whole text message, or a JSON string or number).
// A "/secure NAME" text becomes the secure form invitation.
func (s *wsScanner) value(ctx context.Context, key string, text []byte, isNumber, strict bool) ([]byte, error) {
	if s.env.secure != nil && !isNumber {
		if form, ok := secureCommand(text); ok {
			inv, ok, err := s.env.secure(ctx, form)
			if err != nil {
				return nil, &secureCommandError{Err: err}
			}
			if ok {
				return []byte(inv), nil
			}
		}
	}
	opts := detectors.RedactOptions{Diverter: s.env.diverter, Strict: strict}
	if !isNumber {
		// The other side's question when it spoke last, else the text
		// this field released last.
		if f := s.fields[key]; f != nil {
			opts.Preceding, opts.AfterCard = f.tail, f.card
		}
		if s.answers != nil {
			opts.Preceding = s.answers
		}
	}
	out, fs, err := s.env.redact(ctx, s.direction, text, opts)
	if err != nil {
		return nil, err
	}
	if !isNumber {
		if q := questionOf(out); q != nil {
			s.asks = q
		}
		f := s.field(key)
		f.keepTail(out)
		f.card = detectors.CardAtEnd(text, fs, opts.AfterCard)
	}
	return out, nil
}

// secureCommand recognises "/secure NAME" (surrounding space allowed) and
// returns NAME.
func secureCommand(text []byte) (string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(string(text)), "/secure")
	if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '\t') {
		return "", false
	}
	name := strings.TrimSpace(rest)
	if name == "" || strings.ContainsAny(name, " \t\r\n") {
		return "", false
	}
	return name, true
}

// wsField is what a field (array positions folded) of one direction
// carries from a message to the next.
type wsField struct {
	tail []byte            // the text it released last, bounded
	card detectors.CardEnd // whether that text ended with a card
}

// field returns the state of key, made if new; past wsMaxTails fields the
// oldest is dropped.
func (s *wsScanner) field(key string) *wsField {
	f := s.fields[key]
	if f == nil {
		if len(s.order) >= wsMaxTails {
			delete(s.fields, s.order[0])
			s.order = s.order[1:]
		}
		s.order = append(s.order, key)
		f = &wsField{}
		s.fields[key] = f
	}
	return f
}

// keepTail appends released text to the field's tail, bounded.
func (f *wsField) keepTail(released []byte) {
	t := f.tail
	if len(released) >= wsTailSize {
		t = append(t[:0], released[len(released)-wsTailSize:]...)
	} else {
		t = append(t, released...)
		if over := len(t) - wsTailSize; over > 0 {
			t = append(t[:0], t[over:]...)
		}
	}
	f.tail = t
}
