package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/veilproxy/veil/detectors"
)

// maxSSETextStreams bounds the continuous texts (one per choice) one event
// stream may open; a stream that asks for more is ended with an error event.
const maxSSETextStreams = 256

// errTooManySSETexts ends a stream that opens more than maxSSETextStreams
// continuous texts.
var errTooManySSETexts = errors.New("too many text fields in one event stream")

// sseEnv is what an sseRewriter needs from the proxy: the engine for the
// continuous texts, a one-shot scanner for every other string (comments,
// fields outside the text path, data that is not JSON), and the observer.
type sseEnv struct {
	engine *detectors.Engine
	opts   detectors.RedactOptions // Diverter shared by the stream's texts
	// text is the path of the continuous text in each event's JSON data;
	// nil: the raw data is the text.
	text *jsonPath
	// skip lists JSON paths in the data that are never scanned.
	skip []jsonPath
	// redact scans a whole value; it returns *blockedError for a block.
	redact func(ctx context.Context, text []byte) ([]byte, error)
	// found reports each finding of the continuous texts.
	found func(f detectors.Finding)
	// scanned reports the time spent scanning one event.
	scanned func(d time.Duration)
	// held reports how long text was held back before its release.
	held func(d time.Duration)
	// blocked reports a block found by a continuous text.
	blocked func()
	// timeout bounds the scanning of one event (scan_timeout); 0: none.
	timeout time.Duration
}

// sseText is one continuous text of a stream: the detectors' stream scanning
// it, and the last event that carried it (already rewritten), the template
// for the event that releases the text held back at the end.
type sseText struct {
	key       string
	s         *detectors.Stream
	tmpl      *sseEvent
	heldSince time.Time
}

// sseRewriter scans the events of one stream and appends the rewritten
// events to out. Not safe for concurrent use.
type sseRewriter struct {
	env   sseEnv
	base  context.Context // the stream's
	ctx   context.Context // the event's, with the scan timeout
	texts map[string]*sseText
	order []*sseText // first-seen order, for the final events
	seen  map[string]sseSeen
	out   []byte
}

// maxSSESeen bounds the scanned values a stream remembers.
const maxSSESeen = 64

// sseSeen is the last value scanned at a path and what it became.
type sseSeen struct{ in, out string }

// newSSERewriter starts the rewriting of one stream; ctx is the stream's.
func newSSERewriter(ctx context.Context, env sseEnv) *sseRewriter {
	return &sseRewriter{env: env, base: ctx, ctx: ctx, texts: make(map[string]*sseText)}
}

// scanning starts the scan of one event or of the final flush: r.ctx gets
// the scan timeout until the returned function is called.
func (r *sseRewriter) scanning() func() {
	if r.env.timeout <= 0 {
		return func() {}
	}
	ctx := newScanContext(r.base, r.env.timeout)
	r.ctx = ctx
	return func() {
		ctx.stop()
		r.ctx = r.base
	}
}

// event rewrites one event and appends it, with any final events it causes,
// to r.out. An error ends the stream: the caller emits an error event.
func (r *sseRewriter) event(e *sseEvent) error {
	defer r.scanning()()
	start := time.Now()
	defer func() {
		if r.env.scanned != nil {
			r.env.scanned(time.Since(start))
		}
	}()
	if err := r.comments(e); err != nil {
		return err
	}
	data, ok := e.data()
	if !ok {
		r.out = e.appendTo(r.out)
		return nil
	}
	if string(bytes.TrimSpace(data)) == "[DONE]" {
		if err := r.flush(); err != nil {
			return err
		}
		r.out = e.appendTo(r.out)
		return nil
	}
	var touched, finished []*sseText
	if r.env.text == nil {
		t, err := r.textFor("")
		if err != nil {
			return err
		}
		out, err := r.write(t, data)
		if err != nil {
			return err
		}
		e.setData(out)
		touched = append(touched, t)
	} else {
		out, ts, fin, err := r.rewriteData(data)
		if err != nil {
			return err
		}
		e.setData(out)
		touched, finished = ts, fin
	}
	for _, t := range touched {
		t.tmpl = e.clone()
	}
	// A choice that finishes in this event releases its held text in a
	// final event before it, or after it when this event carried some of
	// that choice's text.
	var before, after []*sseText
	for _, t := range finished {
		if slices.Contains(touched, t) {
			after = append(after, t)
		} else {
			before = append(before, t)
		}
	}
	if err := r.flushTexts(before); err != nil {
		return err
	}
	r.out = e.appendTo(r.out)
	return r.flushTexts(after)
}

// comments scans comment lines as whole values.
func (r *sseRewriter) comments(e *sseEvent) error {
	for i, l := range e.lines {
		if !l.isComment() || len(l.raw) == 1 {
			continue
		}
		out, err := r.env.redact(r.ctx, l.raw[1:])
		if err != nil {
			return err
		}
		e.lines[i].raw = append([]byte{':'}, out...)
	}
	return nil
}

// rewriteData rewrites JSON data: values at the text path go through their
// continuous text, every other string value is scanned on its own. Data
// that is not JSON is scanned as a whole value. It returns the texts the
// event carried and the texts of the choices it finishes (an OpenAI-style
// choice with a finish_reason).
func (r *sseRewriter) rewriteData(data []byte) (out []byte, touched, finished []*sseText, err error) {
	idx, done := choiceIndexes(data)
	out, err = rewriteJSON(data, func(at []string, value string, isNumber bool) (string, bool, error) {
		if isNumber || anyCovers(r.env.skip, at) {
			return "", false, nil
		}
		if r.env.text.match(at) {
			t, err := r.textFor(choiceKey(at, idx))
			if err != nil {
				return "", false, err
			}
			touched = append(touched, t)
			out, err := r.write(t, []byte(value))
			if err != nil {
				return "", false, err
			}
			return string(out), string(out) != value, nil
		}
		out, err := r.scanValue(at, value)
		if err != nil {
			return "", false, err
		}
		return out, out != value, nil
	})
	if errors.Is(err, errMalformed) {
		out, err := r.env.redact(r.ctx, data)
		return out, nil, nil, err
	}
	if err != nil {
		return nil, nil, nil, err
	}
	for _, at := range done {
		prefix := choiceKey(at, idx) + "\x00"
		for _, t := range r.order {
			if strings.HasPrefix(t.key, prefix) && !slices.Contains(finished, t) {
				finished = append(finished, t)
			}
		}
	}
	return out, touched, finished, nil
}

// scanValue scans a string value outside the text path. Chunks of one
// stream repeat most such values (id, model, object): the last result per
// path is kept and reused for the same value, so only what changes is
// scanned again.
func (r *sseRewriter) scanValue(at []string, value string) (string, error) {
	key := strings.Join(at, "\x00")
	if c, ok := r.seen[key]; ok && c.in == value {
		return c.out, nil
	}
	out, err := r.env.redact(r.ctx, []byte(value))
	if err != nil {
		return "", err
	}
	if r.seen == nil {
		r.seen = make(map[string]sseSeen)
	}
	if _, ok := r.seen[key]; ok || len(r.seen) < maxSSESeen {
		r.seen[key] = sseSeen{in: value, out: string(out)}
	}
	return string(out), nil
}

// choiceIndexes maps the path of each array element that has an "index"
// number (an OpenAI-style choice) to that number, so that a choice keeps
// its continuous text whatever its position in the array. It also returns
// the paths of the elements with a finish_reason.
func choiceIndexes(data []byte) (idx map[string]string, finished [][]string) {
	hasIndex := bytes.Contains(data, []byte(`"index"`))
	hasFinish := bytes.Contains(data, []byte(`"finish_reason"`))
	if !hasIndex && !hasFinish {
		return nil, nil
	}
	idx = make(map[string]string)
	_, _ = rewriteJSON(data, func(at []string, value string, isNumber bool) (string, bool, error) {
		switch {
		case len(at) < 2:
		case isNumber && at[len(at)-1] == "index":
			idx[strings.Join(at[:len(at)-1], "\x00")] = value
		case !isNumber && at[len(at)-1] == "finish_reason" && value != "":
			finished = append(finished, slices.Clone(at[:len(at)-1]))
		}
		return "", false, nil
	})
	return idx, finished
}

// choiceKey names the continuous text a value at path at belongs to: the
// path itself, with an array position replaced by the element's "index"
// when it has one.
func choiceKey(at []string, idx map[string]string) string {
	var b strings.Builder
	for i, seg := range at {
		if i > 0 {
			b.WriteByte(0)
		}
		if v, ok := idx[strings.Join(at[:i+1], "\x00")]; ok && idx != nil {
			b.WriteString("#")
			b.WriteString(v)
			continue
		}
		b.WriteString(seg)
	}
	return b.String()
}

// textFor returns the continuous text for key, starting it when new.
func (r *sseRewriter) textFor(key string) (*sseText, error) {
	if t, ok := r.texts[key]; ok {
		return t, nil
	}
	if len(r.texts) >= maxSSETextStreams {
		return nil, errTooManySSETexts
	}
	t := &sseText{key: key, s: r.env.engine.NewStream(r.env.opts)}
	r.texts[key] = t
	r.order = append(r.order, t)
	return t, nil
}

// write feeds p to t and returns what is safe to release now.
func (r *sseRewriter) write(t *sseText, p []byte) ([]byte, error) {
	out, fs, err := t.s.Write(r.ctx, p)
	if err != nil {
		return nil, scanFailure(err)
	}
	if err := r.findings(fs); err != nil {
		return nil, err
	}
	r.trackHeld(t)
	return out, nil
}

// findings reports fs and refuses the stream when one of them blocks.
func (r *sseRewriter) findings(fs []detectors.Finding) error {
	for _, f := range fs {
		if r.env.found != nil {
			r.env.found(f)
		}
	}
	if detectors.Strongest(fs) == detectors.ActionBlock {
		if r.env.blocked != nil {
			r.env.blocked()
		}
		return &blockedError{Types: findingTypes(fs, detectors.ActionBlock)}
	}
	return nil
}

// findingTypes lists the distinct types of the findings with action a.
func findingTypes(fs []detectors.Finding, a detectors.Action) []string {
	var types []string
	for _, f := range fs {
		if f.Action == a && !slices.Contains(types, f.Type) {
			types = append(types, f.Type)
		}
	}
	return types
}

// trackHeld measures how long t holds text back.
func (r *sseRewriter) trackHeld(t *sseText) {
	pending := t.s.Pending() > 0
	switch {
	case pending && t.heldSince.IsZero():
		t.heldSince = time.Now()
	case !pending && !t.heldSince.IsZero():
		if r.env.held != nil {
			r.env.held(time.Since(t.heldSince))
		}
		t.heldSince = time.Time{}
	}
}

// flush ends every continuous text: the text each held back is released in
// a final event shaped like the last event that carried it. The texts start
// afresh after it (a stream may go on after [DONE]).
func (r *sseRewriter) flush() error {
	defer r.scanning()()
	return r.flushTexts(slices.Clone(r.order))
}

// flushTexts ends the texts ts, appending their final events to r.out.
func (r *sseRewriter) flushTexts(ts []*sseText) error {
	for _, t := range ts {
		out, fs, err := t.s.Flush(r.ctx)
		if err != nil {
			return scanFailure(err)
		}
		if err := r.findings(fs); err != nil {
			return err
		}
		r.trackHeld(t)
		delete(r.texts, t.key)
		r.order = slices.DeleteFunc(r.order, func(x *sseText) bool { return x == t })
		if len(out) == 0 || t.tmpl == nil {
			continue
		}
		ev, err := r.finalEvent(t, out)
		if err != nil {
			return err
		}
		r.out = ev.appendTo(r.out)
	}
	return nil
}

// finalEvent builds the event releasing text for t from its template: same
// event name and data shape, no id (the last id was already sent) and no
// retry or comments; the text field carries text, other texts of the same
// event are emptied.
func (r *sseRewriter) finalEvent(t *sseText, text []byte) (*sseEvent, error) {
	ev := t.tmpl.clone()
	kept := ev.lines[:0]
	for _, l := range ev.lines {
		name, _ := l.field()
		if l.isComment() || string(name) == "id" || string(name) == "retry" {
			continue
		}
		kept = append(kept, l)
	}
	ev.lines = kept
	data, _ := ev.data()
	if r.env.text == nil {
		ev.setData(text)
		return ev, nil
	}
	idx, _ := choiceIndexes(data)
	out, err := rewriteJSON(data, func(at []string, value string, isNumber bool) (string, bool, error) {
		if isNumber || !r.env.text.match(at) {
			return "", false, nil
		}
		if choiceKey(at, idx) == t.key {
			return string(text), true, nil
		}
		return "", value != "", nil
	})
	if err != nil {
		return nil, fmt.Errorf("building final event: %w", err)
	}
	ev.setData(out)
	return ev, nil
}

// sseErrorEvent is the event that ends a stream Veil refuses to pass on:
// "event: error" and the same JSON body an HTTP refusal has, such as
// {"error":"...","code":"blocked","types":["card"]}.
func sseErrorEvent(err error) []byte {
	_, body := classify(&responseError{Err: err})
	switch {
	case errors.Is(err, errSSEEventTooLarge):
		body = errorBody{Error: "an upstream event exceeds the size limit", Code: "event_too_large"}
	case errors.Is(err, errTooManySSETexts):
		body = errorBody{Error: "the upstream stream could not be scanned", Code: "response_unscannable"}
	case body.Code == "client_gone" || body.Code == "":
		body = errorBody{Error: "the upstream stream could not be scanned", Code: "scan_failed"}
	}
	b, mErr := json.Marshal(body)
	if mErr != nil {
		b = []byte(`{"error":"internal error","code":"internal"}`)
	}
	return append(append([]byte("event: error\ndata: "), b...), "\n\n"...)
}
