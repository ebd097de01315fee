package detectors

// TEMPORARY STUB: the real engine replaces this file. It exists so that
// packages depending on detectors compile against the final signatures.

import (
	"context"
	"regexp"
)

// Config is the detectors: section of the config file.
type Config struct {
	Defaults *bool             `yaml:"defaults"` // nil means true
	Disable  []string          `yaml:"disable"`
	Actions  map[string]string `yaml:"actions"`
	Rules    []RuleSpec        `yaml:"rules"`
}

// RuleSpec is one rule as written in YAML.
type RuleSpec struct {
	Pos     Pos    `yaml:"-"`
	ID      string `yaml:"id"`
	Type    string `yaml:"type"`
	Pattern string `yaml:"pattern"`
	Action  string `yaml:"action"`
	Mask    string `yaml:"mask"`
}

// Validate reports every problem in c at once.
func (c Config) Validate() error { return nil }

// Engine is a compiled, immutable rule set, safe for concurrent use.
type Engine struct{ card *regexp.Regexp }

// Compile builds an Engine from cfg (embedded defaults included unless
// cfg.Defaults is false).
func Compile(cfg Config) (*Engine, error) {
	return &Engine{card: regexp.MustCompile(`\b(?:\d[ -]?){12,18}\d\b`)}, nil
}

// Find returns the resolved findings in text, ordered by Start, without
// overlaps.
func (e *Engine) Find(ctx context.Context, text []byte, opts RedactOptions) ([]Finding, error) {
	var out []Finding
	for _, m := range e.card.FindAllIndex(text, -1) {
		out = append(out, Finding{Type: "card", Rule: "card_pan", Start: m[0], End: m[1], Confidence: 1, Action: ActionMask})
	}
	return out, nil
}

// Redact returns text with every finding masked (or diverted) and the
// findings relative to text. A block finding does not stop masking; callers
// check Strongest(findings) == ActionBlock and refuse the message.
func (e *Engine) Redact(ctx context.Context, text []byte, opts RedactOptions) ([]byte, []Finding, error) {
	fs, err := e.Find(ctx, text, opts)
	if err != nil {
		return nil, nil, err
	}
	out := make([]byte, 0, len(text))
	last := 0
	for _, f := range fs {
		out = append(out, text[last:f.Start]...)
		out = append(out, "[CARD]"...)
		last = f.End
	}
	return append(out, text[last:]...), fs, nil
}

// Stream masks a text that arrives in chunks. Not safe for concurrent use.
type Stream struct {
	e    *Engine
	opts RedactOptions
	buf  []byte
}

// NewStream starts a streaming scan.
func (e *Engine) NewStream(opts RedactOptions) *Stream { return &Stream{e: e, opts: opts} }

// Write adds a chunk and returns the masked text that is now safe to
// release, with the findings in it (offsets relative to the returned bytes).
func (s *Stream) Write(ctx context.Context, p []byte) ([]byte, []Finding, error) {
	s.buf = append(s.buf, p...)
	return nil, nil, nil
}

// Flush releases everything held back; the stream ends.
func (s *Stream) Flush(ctx context.Context) ([]byte, []Finding, error) {
	out, fs, err := s.e.Redact(ctx, s.buf, s.opts)
	s.buf = nil
	return out, fs, err
}

// Pending reports how many input bytes are held back.
func (s *Stream) Pending() int { return len(s.buf) }
