package detectors

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"
)

//go:embed defaults.yaml
var defaultsYAML []byte

// DefaultRulesYAML returns a copy of the embedded default rules file.
func DefaultRulesYAML() []byte { return bytes.Clone(defaultsYAML) }

// RuleInfo describes a compiled rule for listings.
type RuleInfo struct {
	ID, Type, Action string
	Source           string // "default" or the config file name
	Description      string
}

// SampleFailure is a rule sample that did not behave as written.
type SampleFailure struct {
	Rule   string
	Sample string
	Want   string // "match" or "no_match"
}

// Engine is a compiled, immutable rule set, safe for concurrent use.
type Engine struct {
	all       []*Rule // every enabled rule, in order
	rules     []*Rule // rules that run on islands
	freeRules []*Rule // of those, the ones that need no keyword or context word
	// freeByLen[n] holds the free rules whose values can fit in n bytes
	// (by their prefilter length); the last entry holds them all.
	freeByLen [][]*Rule
	lineRules []*Rule // configured rules without keywords: all text
	// The expiry and security code rules, when enabled: a card finding
	// is their context for the values right after it (see cardtail.go).
	tailExpiry, tailCVV *Rule
	actions             map[string]Action
	strict              *Rule
	// wholeWindows runs a rule in every segment near one of its context
	// words and scans the word's whole window, for tests that compare
	// with the narrowed scan.
	wholeWindows bool

	ac        *acMatcher
	kwLook    []int // per keyword: how far past a segment holding it to scan
	kwOwner   []kwOwner
	maxAfter  int
	maxBefore int
	maxBack   int

	scanners sync.Pool // *scanner: buffers for one-shot scans
}

type kwOwner struct {
	rule int
	ctx  bool
}

// Compile builds an Engine from cfg: the embedded defaults (unless
// cfg.Defaults is false), with configured rules replacing defaults of the
// same id, less the disabled ones. Every problem is reported at once, each
// as "file:line: rule \"id\": field: message"; a sample of a configured
// rule that fails is a problem too.
func Compile(cfg Config) (*Engine, error) {
	e, errs := compile(cfg)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, r := range e.all {
		if r.Source == "default" {
			// The embedded rules' samples are fixed at build time and
			// checked by the package's tests (TestDefaultRuleSamples).
			continue
		}
		for _, f := range e.runSamples(r) {
			field := "tests.match"
			list := r.spec.Tests.Match
			if f.Want == "no_match" {
				field, list = "tests.no_match", r.spec.Tests.NoMatch
			}
			errs = append(errs, ruleErr(r.spec.Pos, r.ID, r.idx, fmt.Sprintf("%s[%d]", field, slices.Index(list, f.Sample)), "sample %s", map[string]string{"match": "not matched", "no_match": "matched"}[f.Want]))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return e, nil
}

// TestRules runs every rule's samples and returns those that fail. The
// error reports problems other than samples.
func TestRules(cfg Config) ([]SampleFailure, error) {
	e, errs := compile(cfg)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var out []SampleFailure
	for _, r := range e.all {
		out = append(out, e.runSamples(r)...)
	}
	return out, nil
}

// runSamples checks r's samples with r alone.
func (e *Engine) runSamples(r *Rule) []SampleFailure {
	if len(r.spec.Tests.Match)+len(r.spec.Tests.NoMatch) == 0 {
		return nil
	}
	alone := *r // build numbers the rules it gets: keep r's index intact
	one := build([]*Rule{&alone}, nil)
	has := func(sample string) bool {
		fs, err := one.Find(context.Background(), []byte(sample), RedactOptions{})
		if err != nil {
			return false
		}
		for _, f := range fs {
			if f.Rule == r.ID {
				return true
			}
		}
		return false
	}
	var out []SampleFailure
	for _, s := range r.spec.Tests.Match {
		if !has(s) {
			out = append(out, SampleFailure{Rule: r.ID, Sample: s, Want: "match"})
		}
	}
	for _, s := range r.spec.Tests.NoMatch {
		if has(s) {
			out = append(out, SampleFailure{Rule: r.ID, Sample: s, Want: "no_match"})
		}
	}
	return out
}

//go:generate go test -run ^TestDefaultsTable$ -args -update

// defaultRule is one rule of defaultsTable: the spec as decoded, the line
// of the rule and the line of each key written in it. Positions are kept
// as slices so that the table is static data, with no map to build when
// the program starts.
type defaultRule struct {
	spec RuleSpec
	line int
	keys []keyLine
}

type keyLine struct {
	key  string
	line int
}

// defaultSpecs returns the embedded default rules with their positions in
// defaults.yaml. They come from defaultsTable, generated from that file:
// decoding the YAML would cost more than compiling the rules, at the start
// of every veil process. TestDefaultsTable holds the table to
// defaults.yaml and TestDefaultsDecodeStrictly the file to strict
// decoding. The specs are built once per process; a reload compiles the
// same specs again. Compiling never changes a spec, so every engine may
// share them.
var defaultSpecs = sync.OnceValue(func() []RuleSpec {
	specs := make([]RuleSpec, len(defaultsTable))
	for i, d := range defaultsTable {
		specs[i] = d.spec
		p := Pos{File: "defaults.yaml", Line: d.line, Keys: make(map[string]int, len(d.keys))}
		for _, k := range d.keys {
			p.Keys[k.key] = k.line
		}
		specs[i].Pos = p
	}
	return specs
})

// compile checks cfg and builds the engine without running samples.
func compile(cfg Config) (*Engine, []error) {
	var errs []error
	timeout, err := cfg.timeout()
	if err != nil {
		errs = append(errs, err)
	}
	var rules []*Rule
	if cfg.Defaults == nil || *cfg.Defaults {
		var es []error
		rules, es = compileDefaults(defaultSpecs(), timeout)
		errs = append(errs, es...)
	}
	seen := map[string]int{}
	for i, s := range cfg.Rules {
		r, es := compileRule(s, i, true, timeout)
		errs = append(errs, es...)
		if s.ID != "" {
			if j, dup := seen[s.ID]; dup {
				errs = append(errs, ruleErr(s.Pos, s.ID, i, "id", "duplicate id (also rule #%d)", j+1))
				continue
			}
			seen[s.ID] = i
		}
		if k := slices.IndexFunc(rules, func(d *Rule) bool { return d.ID == s.ID && d.Source == "default" }); k >= 0 && s.ID != "" {
			rules[k] = r
			continue
		}
		rules = append(rules, r)
	}
	for i, id := range cfg.Disable {
		k := slices.IndexFunc(rules, func(r *Rule) bool { return r.ID == id })
		if k < 0 {
			errs = append(errs, fmt.Errorf("%sdetectors: disable[%d]: unknown rule %q", cfg.Pos.At("disable"), i, id))
			continue
		}
		rules = slices.Delete(rules, k, k+1)
	}
	actions := map[string]Action{}
	types := map[string]bool{"digits": true}
	for _, r := range rules {
		types[r.Type] = true
	}
	for _, typ := range sortedKeys(cfg.Actions) {
		a, err := ParseAction(cfg.Actions[typ])
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%sdetectors: actions: %s: %w", cfg.Pos.At("actions"), typ, err))
		case !types[typ]:
			errs = append(errs, fmt.Errorf("%sdetectors: actions: %s: no rule has this type", cfg.Pos.At("actions"), typ))
		default:
			actions[typ] = a
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return build(rules, actions), nil
}

// compileDefaults compiles the default specs on up to four cores: each
// rule compiles on its own. Rules and errors keep the specs' order.
func compileDefaults(specs []RuleSpec, timeout time.Duration) ([]*Rule, []error) {
	rules := make([]*Rule, len(specs))
	errs := make([][]error, len(specs))
	workers := min(runtime.GOMAXPROCS(0), 4, len(specs))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(specs); i += workers {
				r, es := compileRule(specs[i], i, false, timeout)
				r.Source = "default"
				rules[i], errs[i] = r, es
			}
		})
	}
	wg.Wait()
	return rules, slices.Concat(errs...)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// build assembles an engine from compiled rules.
func build(rules []*Rule, actions map[string]Action) *Engine {
	e := &Engine{actions: actions}
	e.strict = &Rule{ID: "strict", Type: "digits", Source: "default", action: ActionMask, mask: maskFull, idx: len(rules), timeout: time.Second}
	// Sized up front: every process builds an engine at start-up, and
	// growing these slices rule by rule would allocate several times over.
	n := 0
	for _, r := range rules {
		n += len(r.keywords) + len(r.ctxWords)
	}
	words := make([]string, 0, n)
	e.kwLook = make([]int, 0, n)
	e.kwOwner = make([]kwOwner, 0, n)
	e.all = make([]*Rule, 0, len(rules))
	maxBefore := 0
	for i, r := range rules {
		r.idx = i
		e.all = append(e.all, r)
		if r.lineScope {
			e.lineRules = append(e.lineRules, r)
		} else {
			e.rules = append(e.rules, r)
			if len(r.keywords) == 0 && !r.ctxRequired {
				e.freeRules = append(e.freeRules, r)
			}
			switch {
			case r.ID == "card_expiry" && e.tailExpiry == nil:
				e.tailExpiry = r
			case r.ID == "cvv" && e.tailCVV == nil:
				e.tailCVV = r
			}
		}
		for _, kw := range r.keywords {
			words = append(words, kw)
			look := 0
			if r.spans {
				look = r.maxLen + 32
			}
			e.kwLook = append(e.kwLook, look)
			e.kwOwner = append(e.kwOwner, kwOwner{rule: i})
		}
		for _, w := range r.ctxWords {
			words = append(words, w)
			look := 0
			if r.ctxRequired && r.spans {
				look = r.before + r.maxLen + 1
			}
			e.kwLook = append(e.kwLook, look)
			e.kwOwner = append(e.kwOwner, kwOwner{rule: i, ctx: true})
			maxBefore = max(maxBefore, r.before)
			if r.after > 0 {
				e.maxAfter = max(e.maxAfter, r.after+maxKeyword)
			}
		}
	}
	e.ac = newACMatcher(words)
	longest := 0
	for _, r := range e.freeRules {
		longest = max(longest, r.pre.length)
	}
	e.freeByLen = make([][]*Rule, longest+1)
	for n := range e.freeByLen {
		for _, r := range e.freeRules {
			if r.pre.length <= n {
				e.freeByLen[n] = append(e.freeByLen[n], r)
			}
		}
	}
	// A context word of a rule whose values are not words is no island
	// of its own: its values begin in islands of their own, whose
	// segments look back at it, and its segment would scan nothing.
	for kw, o := range e.kwOwner {
		e.ac.island[kw] = !o.ctx || e.all[o.rule].spans
	}
	e.maxBefore = maxBefore
	e.maxBack = lookAround + maxBefore + maxKeyword + 1
	return e
}

// actionOf resolves the action of r's findings: detectors.actions by type
// wins over the rule's own.
func (e *Engine) actionOf(r *Rule) Action {
	if a, ok := e.actions[r.Type]; ok {
		return a
	}
	return r.action
}

// Rules lists the enabled rules in order.
func (e *Engine) Rules() []RuleInfo {
	out := make([]RuleInfo, 0, len(e.all))
	for _, r := range e.all {
		out = append(out, RuleInfo{ID: r.ID, Type: r.Type, Action: e.actionOf(r).String(), Source: r.Source, Description: r.Description})
	}
	return out
}

// scanAll runs a one-shot scan of text (after opts.Preceding), appending
// the masked text to dst unless findOnly.
func (e *Engine) scanAll(ctx context.Context, dst, text []byte, opts RedactOptions, findOnly bool) ([]byte, []Finding, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("scanning: %w", err)
	}
	s := e.getScanner(opts)
	defer e.putScanner(s)
	s.findOnly = findOnly
	input := text
	if len(opts.Preceding) > 0 {
		s.joined = append(append(s.joined[:0], opts.Preceding...), text...)
		input = s.joined
		s.skip = len(opts.Preceding)
	}
	out := dst
	if !findOnly && out == nil {
		out = make([]byte, 0, len(text)+16)
	}
	// The text goes through in pieces, each scanned as soon as it is in,
	// so that the segments and keyword hits in flight stay few (and in
	// cache) however large the text. The result is the same for any
	// split: the Stream property.
	s.buf = input
	var fs []Finding
	for off := 0; ; {
		end := min(len(input), off+scanPiece)
		s.feed(input[off:end])
		if off = end; off == len(input) {
			break
		}
		var err error
		if out, fs, err = s.step(ctx, out, fs); err != nil {
			return nil, nil, err
		}
	}
	s.finish()
	out, fs, err := s.step(ctx, out, fs)
	if err != nil {
		return nil, nil, err
	}
	return out, fs, nil
}

// scanPiece is how much of a one-shot scan's text is fed at a time.
const scanPiece = 32 << 10

// Find returns the resolved findings in text, ordered by Start, without
// overlaps. Offsets refer to text (not to opts.Preceding). The Diverter is
// not called.
func (e *Engine) Find(ctx context.Context, text []byte, opts RedactOptions) ([]Finding, error) {
	_, fs, err := e.scanAll(ctx, nil, text, opts, true)
	return fs, err
}

// Redact returns text with every finding masked (or diverted) and the
// findings relative to text. A block finding does not stop masking; callers
// check Strongest(findings) == ActionBlock and refuse the message. The
// error reports a Diverter failure or a cancelled ctx: the text must then
// not be forwarded.
func (e *Engine) Redact(ctx context.Context, text []byte, opts RedactOptions) ([]byte, []Finding, error) {
	return e.scanAll(ctx, nil, text, opts, false)
}

// AppendRedact is Redact appending the masked text to dst, so that a
// caller masking many texts can reuse one buffer. On error the returned
// text must not be used.
func (e *Engine) AppendRedact(ctx context.Context, dst, text []byte, opts RedactOptions) ([]byte, []Finding, error) {
	if dst == nil {
		dst = make([]byte, 0, len(text)+16)
	}
	return e.scanAll(ctx, dst, text, opts, false)
}

// Stream masks a text that arrives in chunks: for any split of a text, the
// concatenated outputs of Write and Flush equal Redact of the whole text.
// It holds back only what could still become part of a finding: an open
// island of non-inert words (at most about 1 KiB plus the largest context
// "after" window and 64 bytes), or an unfinished word. Not safe for
// concurrent use.
type Stream struct {
	s *scanner
}

// NewStream starts a streaming scan. opts.Preceding is scanned as context
// before the first chunk and never released.
func (e *Engine) NewStream(opts RedactOptions) *Stream {
	s := e.newScanner(opts)
	s.owned = true
	if len(opts.Preceding) > 0 {
		s.skip = len(opts.Preceding)
		s.feed(opts.Preceding)
	}
	return &Stream{s: s}
}

// Write adds a chunk and returns the masked text that is now safe to
// release, with the findings in it; offsets count input bytes from the
// start of the stream. After an error the stream must be abandoned.
func (st *Stream) Write(ctx context.Context, p []byte) ([]byte, []Finding, error) {
	if st.s.done {
		return nil, nil, errors.New("write after flush")
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("scanning: %w", err)
	}
	st.s.feed(p)
	return st.s.step(ctx, nil, nil)
}

// Flush releases everything held back; the stream ends.
func (st *Stream) Flush(ctx context.Context) ([]byte, []Finding, error) {
	if !st.s.done {
		st.s.finish()
	}
	return st.s.step(ctx, nil, nil)
}

// Pending reports how many input bytes are held back.
func (st *Stream) Pending() int {
	return st.s.n - max(st.s.rel, st.s.skip)
}
