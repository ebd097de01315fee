package detectors

import (
	"fmt"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dlclark/regexp2"
)

// Config is the detectors: section of the config file.
type Config struct {
	// Pos locates the section itself, for errors about disable and actions.
	// Keys used: "disable", "actions", "rule_timeout".
	Pos Pos `yaml:"-"`
	// Defaults includes the embedded default rules; nil means true.
	Defaults *bool `yaml:"defaults"`
	// Disable lists rule ids (default or configured) to leave out.
	Disable []string `yaml:"disable"`
	// Actions maps a type to the action of every rule of that type; it
	// wins over the action written in a rule.
	Actions map[string]string `yaml:"actions"`
	// Rules are added to the defaults; a rule with the id of a default
	// replaces it.
	Rules []RuleSpec `yaml:"rules"`
	// RuleTimeout bounds each pattern match of a configured rule
	// (default 100ms, at most 10s). A match that runs out of time counts
	// as a finding covering the text it was scanning.
	RuleTimeout time.Duration `yaml:"rule_timeout"`
}

// RuleSpec is one rule as written in YAML. Compile turns it into a Rule.
type RuleSpec struct {
	// Pos is filled by the config loader: the rule's line and the line of
	// each top-level key written in it (id, pattern, context, tests...).
	Pos         Pos    `yaml:"-"`
	ID          string `yaml:"id"`
	Type        string `yaml:"type"`
	Description string `yaml:"description"`
	// Pattern is a regular expression. Configured rules use the regexp2
	// syntax (.NET-like, with lookarounds and backreferences); the
	// embedded defaults are compiled with Go's RE2 engine.
	Pattern string `yaml:"pattern"`
	// Scanner names a built-in scanner used instead of a pattern:
	// "card" finds digit runs of 12 to 19 digits whatever separates the
	// digit groups.
	Scanner string `yaml:"scanner"`
	// Group is the name or number of the capture group that holds the
	// value. Default: the group named v when the pattern has one, else the
	// whole match.
	Group string `yaml:"group"`
	// Keywords, matched case-insensitively, must occur in or shortly
	// before the text a pattern runs on (within max_len bytes plus 32);
	// without any, the rule is skipped. A configured rule without keywords
	// and without required context sees all text, in windows of up to
	// 1 KiB.
	Keywords []string    `yaml:"keywords"`
	Context  ContextSpec `yaml:"context"`
	// Validator names a domain check run on the normalised value: card,
	// luhn, ssn, itin, npi, dea, mbi, iban, aba, vin.
	Validator string `yaml:"validator"`
	// Action is mask (default), divert, block or report.
	Action string `yaml:"action"`
	// Mask is the mask style: full (default), last4, bin_last4, type_tag,
	// or a template. A template is literal text with the placeholders
	// {type}, {TYPE}, {rule} and {last4} (the last four value characters,
	// fewer on short values, as in last4), for example "[{TYPE} ending
	// {last4}]".
	Mask  string    `yaml:"mask"`
	Allow AllowSpec `yaml:"allow"`
	Tests TestsSpec `yaml:"tests"`
	// Confidence reported for a finding, 0 < c <= 1. Default 0.9 with a
	// validator, else 0.7. Context words that are not required raise it.
	Confidence float64 `yaml:"confidence"`
	// MaxLen is the longest value expected, in bytes (default 256): it
	// bounds how far past a keyword or context word the rule looks.
	MaxLen int `yaml:"max_len"`
}

// ContextSpec names words that must occur (Required) or raise confidence
// when they occur within Before bytes before a value or After bytes after it.
type ContextSpec struct {
	Words    []string `yaml:"words"`
	Before   int      `yaml:"before"`
	After    int      `yaml:"after"`
	Required bool     `yaml:"required"`
}

// AllowSpec lists values never reported: exact values (compared
// case-insensitively, also after normalisation) and patterns a whole value
// matches.
type AllowSpec struct {
	Values   []string `yaml:"values"`
	Patterns []string `yaml:"patterns"`
}

// TestsSpec holds a rule's samples: texts it must match and texts it must not.
type TestsSpec struct {
	Match   []string `yaml:"match"`
	NoMatch []string `yaml:"no_match"`
}

const (
	defaultTimeout = 100 * time.Millisecond
	maxTimeout     = 10 * time.Second
	defaultMaxLen  = 256
	maxMaxLen      = 4096
	maxWindow      = 1024 // context before/after limit
	maxKeyword     = 48   // longest keyword or context word, bytes
)

// Validate reports every problem in c at once, as Compile would.
func (c Config) Validate() error {
	_, err := Compile(c)
	return err
}

// ruleErr formats one problem of a rule.
func ruleErr(p Pos, id string, idx int, field, format string, args ...any) error {
	name := fmt.Sprintf("rule %q", id)
	if id == "" {
		name = fmt.Sprintf("rule #%d", idx+1)
	}
	key := field
	if i := strings.IndexAny(key, ".["); i >= 0 {
		key = key[:i]
	}
	return fmt.Errorf("%s%s: %s: %s", p.At(key), name, field, fmt.Sprintf(format, args...))
}

// compileRule turns a spec into a Rule. user selects the regexp2 engine;
// defaults use Go's RE2.
func compileRule(s RuleSpec, idx int, user bool, timeout time.Duration) (*Rule, []error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, ruleErr(s.Pos, s.ID, idx, field, format, args...))
	}
	r := &Rule{ID: s.ID, Type: s.Type, Description: s.Description, spec: s, timeout: timeout}
	if s.Pos.File != "" {
		r.Source = s.Pos.File
	} else if user {
		r.Source = "config"
	} else {
		r.Source = "default"
	}
	if s.ID == "" {
		bad("id", "required")
	} else if !validName(s.ID) {
		bad("id", "%q: use letters, digits, _ and -", s.ID)
	}
	if s.Type == "" {
		bad("type", "required")
	} else if !validName(s.Type) {
		bad("type", "%q: use letters, digits, _ and -", s.Type)
	}
	switch {
	case s.Pattern != "" && s.Scanner != "":
		bad("scanner", "set pattern or scanner, not both")
	case s.Scanner != "":
		if s.Scanner != "card" {
			bad("scanner", "unknown scanner %q (want card)", s.Scanner)
		}
		r.scanner = s.Scanner
		r.pre = prefilter{digits: 12, length: 12}
		if s.Group != "" {
			bad("group", "a scanner has no groups")
		}
	case s.Pattern == "":
		bad("pattern", "required")
	case user:
		re, err := compileUser(s.Pattern)
		if err != nil {
			bad("pattern", "%s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			break
		}
		re.MatchTimeout = timeout
		r.rx2 = re
		r.group = 0
		switch {
		case s.Group == "":
			if n := re.GroupNumberFromName("v"); n >= 0 && hasNamedGroup(re, "v") {
				r.group = n
			}
		default:
			n, err := strconv.Atoi(s.Group)
			if err != nil {
				n = -1
				if hasNamedGroup(re, s.Group) {
					n = re.GroupNumberFromName(s.Group)
				}
			}
			if n < 0 || !hasGroupNumber(re, n) {
				bad("group", "the pattern has no group %q", s.Group)
			}
			r.group = n
		}
		r.pre = patternMins(s.Pattern)
	default:
		// The pattern is parsed here, once, for its groups and its
		// prefilter; the Go regexps are compiled when the rule first runs
		// (see lazyRegexp). Parse reports the same errors as Compile.
		tree, err := syntax.Parse(s.Pattern, syntax.Perl)
		if err != nil {
			bad("pattern", "%s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			break
		}
		r.re2 = &lazyRegexp{expr: s.Pattern}
		names := tree.CapNames()
		switch {
		case s.Group == "":
			if n := slices.Index(names, "v"); n > 0 {
				r.group = n
			}
		default:
			n, err := strconv.Atoi(s.Group)
			if err != nil {
				n = slices.Index(names, s.Group)
			}
			if n < 0 || n > tree.MaxCap() {
				bad("group", "the pattern has no group %q", s.Group)
			}
			r.group = n
		}
		// One parse of the pattern serves the prefilter and the first
		// bytes of the value and of the whole match.
		tree = tree.Simplify()
		r.pre = treeMins(tree)
		r.first = treeFirstBytes(tree, r.group)
		if r.first != nil {
			// The same pattern anchored: run only where a value can start.
			r.anchored = &lazyRegexp{expr: `\A(?:` + s.Pattern + `)`}
			// A pattern that does not start with its value starts with a
			// guard ("not a digit"): anchor it one byte before the value.
			whole := treeFirstBytes(tree, 0)
			r.guarded = whole == nil || *whole != *r.first
			if r.guarded {
				r.guard = guardBytes(tree, r.group)
			}
		}
		r.shapeWhole, r.shapeAt = shapeChecks(s.ID)
		r.around = keywordInside(tree, s.Keywords)
	}
	// Keywords and context words go into the same automaton, under the
	// same rules.
	words := func(field string, list []string) (out []string) {
		for i, w := range list {
			w = strings.ToLower(strings.TrimSpace(w))
			if w == "" || len(w) > maxKeyword {
				bad(fmt.Sprintf("%s[%d]", field, i), "want 1 to %d bytes", maxKeyword)
				continue
			}
			out = append(out, w)
		}
		return out
	}
	r.keywords = words("keywords", s.Keywords)
	cx := s.Context
	r.ctxWords = words("context.words", cx.Words)
	if cx.Before < 0 || cx.Before > maxWindow {
		bad("context.before", "%d: want 0 to %d bytes", cx.Before, maxWindow)
	}
	if cx.After < 0 || cx.After > maxWindow {
		bad("context.after", "%d: want 0 to %d bytes", cx.After, maxWindow)
	}
	if len(cx.Words) > 0 && cx.Before == 0 && cx.After == 0 {
		bad("context", "words need a before or after window")
	}
	if cx.Required && len(cx.Words) == 0 {
		bad("context.required", "no context words")
	}
	r.before, r.after, r.ctxRequired = cx.Before, cx.After, cx.Required
	if s.Validator != "" {
		fn, ok := ValidatorByName(s.Validator)
		if !ok {
			bad("validator", "unknown validator %q (want card, luhn, ssn, itin, npi, dea, mbi, iban, aba or vin)", s.Validator)
		}
		r.validator = fn
	}
	r.action = ActionMask
	if s.Action != "" {
		a, err := ParseAction(s.Action)
		if err != nil {
			bad("action", "%v", err)
		}
		r.action = a
	}
	ms, tmpl, err := parseMask(s.Mask)
	if err != nil {
		bad("mask", "%v", err)
	}
	r.mask, r.template = ms, tmpl
	if len(s.Allow.Values) > 0 {
		r.allowValues = make(map[string]bool, 2*len(s.Allow.Values))
	}
	for _, v := range s.Allow.Values {
		r.allowValues[strings.ToUpper(v)] = true
		r.allowValues[string(normValue([]byte(v)))] = true
	}
	for i, p := range s.Allow.Patterns {
		re, err := compileUser(`^(?:` + p + `)$`)
		if err != nil {
			bad(fmt.Sprintf("allow.patterns[%d]", i), "%s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			continue
		}
		re.MatchTimeout = timeout
		r.allowRE = append(r.allowRE, re)
	}
	switch {
	case s.Confidence < 0 || s.Confidence > 1:
		bad("confidence", "%v: want more than 0, at most 1", s.Confidence)
	case s.Confidence > 0:
		r.confidence = s.Confidence
	case r.validator != nil:
		r.confidence = 0.9
	default:
		r.confidence = 0.7
	}
	switch {
	case s.MaxLen < 0 || s.MaxLen > maxMaxLen:
		bad("max_len", "%d: want 1 to %d", s.MaxLen, maxMaxLen)
	case s.MaxLen > 0:
		r.maxLen = s.MaxLen
	default:
		r.maxLen = defaultMaxLen
	}
	// Text after a keyword or a required context word is scanned even
	// when made of plain words (the value may be words, such as a name):
	// for configured rules always, for defaults when the pattern can match
	// a space and letters.
	r.spans = user || (strings.Contains(s.Pattern, " ") || strings.Contains(s.Pattern, `\s`)) &&
		(strings.Contains(s.Pattern, "a-z") || strings.Contains(s.Pattern, "A-Z") || strings.Contains(s.Pattern, "(?i") ||
			strings.Contains(s.Pattern, `\p{L`) || strings.Contains(s.Pattern, `\pL`))
	r.lineScope = user && len(r.keywords) == 0 && !r.ctxRequired
	return r, errs
}

// compileUser compiles a configured pattern with regexp2, turning a panic
// of the library on odd input into an error.
func compileUser(pattern string) (re *regexp2.Regexp, err error) {
	defer func() {
		if recover() != nil {
			re, err = nil, fmt.Errorf("invalid pattern")
		}
	}()
	return regexp2.Compile(pattern, regexp2.None)
}

// validName accepts ids and types: letters, digits, '_' and '-'.
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

func hasNamedGroup(re *regexp2.Regexp, name string) bool {
	for _, n := range re.GetGroupNames() {
		if n == name {
			return true
		}
	}
	return false
}

func hasGroupNumber(re *regexp2.Regexp, n int) bool {
	for _, g := range re.GetGroupNumbers() {
		if g == n {
			return true
		}
	}
	return false
}

// prefilter is what any match of a pattern must hold, as far as Go's
// syntax package can tell: the engine skips a rule on text that lacks it.
type prefilter struct {
	digits int         // ASCII digits
	length int         // characters
	run    int         // longest run of ASCII letters and digits
	bytes  []byteCount // ASCII punctuation bytes and how many of each
}

type byteCount struct {
	c byte
	n int
}

// patternMins computes the prefilter of pattern (empty when it cannot
// parse it).
func patternMins(pattern string) prefilter {
	return treeMins(simplified(pattern))
}

// simplified parses pattern as Go's syntax package does and simplifies it;
// nil when it does not parse.
func simplified(pattern string) *syntax.Regexp {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	return re.Simplify()
}

// treeMins computes the prefilter of a simplified pattern (empty for nil).
func treeMins(re *syntax.Regexp) prefilter {
	if re == nil {
		return prefilter{}
	}
	_, _, run := alnumRun(re)
	p := prefilter{digits: countDigits(re), length: countLen(re), run: run}
	for c, n := range requiredBytes(re) {
		if n > 0 {
			p.bytes = append(p.bytes, byteCount{byte(c), int(n)})
		}
	}
	return p
}

// alnumRun returns whether every character re matches is an ASCII letter
// or digit, its minimum length, and a lower bound of the longest run of
// such characters in any match.
func alnumRun(re *syntax.Regexp) (only bool, minLen, run int) {
	const limit = 1 << 16
	isAlnum := func(r rune) bool { return r < 128 && (r >= '0' && r <= '9' || r|0x20 >= 'a' && r|0x20 <= 'z') }
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true, 0, 0
	case syntax.OpLiteral:
		cur := 0
		only = true
		for _, r := range re.Rune {
			if isAlnum(r) {
				cur++
				run = max(run, cur)
			} else {
				only, cur = false, 0
			}
		}
		return only, len(re.Rune), run
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return false, 1, 0
		}
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if !(lo >= '0' && hi <= '9' || lo >= 'A' && hi <= 'Z' || lo >= 'a' && hi <= 'z') {
				return false, 1, 0
			}
		}
		return true, 1, 1
	case syntax.OpCapture:
		return alnumRun(re.Sub[0])
	case syntax.OpPlus:
		only, minLen, run = alnumRun(re.Sub[0])
		return only, minLen, run
	case syntax.OpStar, syntax.OpQuest:
		only, _, _ = alnumRun(re.Sub[0])
		return only, 0, 0
	case syntax.OpRepeat:
		o, m, r := alnumRun(re.Sub[0])
		if re.Min == 0 {
			return o, 0, 0
		}
		if o {
			return true, min(limit, m*re.Min), min(limit, m*re.Min)
		}
		return false, min(limit, m*re.Min), r
	case syntax.OpConcat:
		only = true
		cur := 0
		for _, sub := range re.Sub {
			o, m, r := alnumRun(sub)
			minLen = min(limit, minLen+m)
			if o {
				cur += m
				run = max(run, cur)
				continue
			}
			only = false
			run = max(run, r)
			cur = 0
		}
		return only, minLen, run
	case syntax.OpAlternate:
		only = true
		minLen, run = -1, -1
		for _, sub := range re.Sub {
			o, m, r := alnumRun(sub)
			only = only && o
			if minLen < 0 || m < minLen {
				minLen = m
			}
			if run < 0 || r < run {
				run = r
			}
		}
		return only, max(minLen, 0), max(run, 0)
	}
	return false, 0, 0
}

// guardBytes returns the bytes that can come just before the value group
// g inside a match (what the pattern's guard, such as (?:^|[^0-9]),
// accepts there), or nil when that is not known: the group is not a part
// of the pattern's top level, or what comes before it can be empty.
func guardBytes(re *syntax.Regexp, g int) *[256]bool {
	if re.Op != syntax.OpConcat {
		return nil
	}
	k := slices.IndexFunc(re.Sub, func(s *syntax.Regexp) bool { return s.Op == syntax.OpCapture && s.Cap == g })
	if k <= 0 {
		return nil
	}
	var set [256]bool
	for j := k - 1; j >= 0; j-- {
		nullable, ok := lastBytes(re.Sub[j], &set)
		if !ok {
			return nil
		}
		if !nullable {
			return &set
		}
	}
	return nil
}

// lastBytes adds to set the bytes a match of re can end with and reports
// whether re can match the empty string where a value could follow. ^ and
// \A cannot (a value after them starts the text, where every position is
// tried anyway); ok is false for the assertions it does not model.
func lastBytes(re *syntax.Regexp, set *[256]bool) (nullable, ok bool) {
	addRange := func(lo, hi rune, fold bool) {
		addByteRange(set, lo, hi, fold)
		if fold {
			// The non-ASCII forms (?i) folds in: a UTF-8 sequence ends
			// with a byte of 0x80 or more.
			addByteRange(set, 0x80, 0x80, false)
		}
	}
	switch re.Op {
	case syntax.OpBeginText:
		return false, true
	case syntax.OpBeginLine:
		set['\n'] = true
		return false, true
	case syntax.OpEmptyMatch:
		return true, true
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return true, true
		}
		r := re.Rune[len(re.Rune)-1]
		addRange(r, r, re.Flags&syntax.FoldCase != 0)
		return false, true
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			addRange(re.Rune[i], re.Rune[i+1], false)
		}
		return false, true
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		addRange(0, 0x10FFFF, false)
		return false, true
	case syntax.OpCapture, syntax.OpPlus:
		return lastBytes(re.Sub[0], set)
	case syntax.OpStar, syntax.OpQuest:
		_, ok := lastBytes(re.Sub[0], set)
		return true, ok
	case syntax.OpRepeat:
		n, ok := lastBytes(re.Sub[0], set)
		return n || re.Min == 0, ok
	case syntax.OpConcat:
		for j := len(re.Sub) - 1; j >= 0; j-- {
			n, ok := lastBytes(re.Sub[j], set)
			if !ok || !n {
				return false, ok
			}
		}
		return true, true
	case syntax.OpAlternate:
		nullable := false
		for _, s := range re.Sub {
			n, ok := lastBytes(s, set)
			if !ok {
				return false, false
			}
			nullable = nullable || n
		}
		return nullable, true
	}
	return false, false
}

// keywordInside returns the bytes a match of the pattern can hold when
// the pattern's one keyword is a single byte every match holds (the @ of
// an email address): a match then lies in the run of such bytes around a
// keyword. It returns nil otherwise, or when the bytes are not a known
// ASCII set or the pattern looks at its surroundings (^, $, \b).
func keywordInside(re *syntax.Regexp, keywords []string) *[256]bool {
	if len(keywords) != 1 || len(keywords[0]) != 1 {
		return nil
	}
	kw := keywords[0][0]
	if kw >= 128 || requiredBytes(re)[kw] == 0 {
		return nil
	}
	var set [256]bool
	if !matchBytes(re, &set) || !set[kw] {
		return nil
	}
	return &set
}

// matchBytes adds to set every byte a match of re can hold, and reports
// false if that is not a known ASCII set.
func matchBytes(re *syntax.Regexp, set *[256]bool) bool {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return false
		}
		for _, r := range re.Rune {
			if r >= 128 {
				return false
			}
			set[r] = true
		}
		return true
	case syntax.OpCharClass:
		for i := 0; i < len(re.Rune); i += 2 {
			if re.Rune[i+1] >= 128 {
				return false
			}
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				set[r] = true
			}
		}
		return true
	case syntax.OpCapture, syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat, syntax.OpConcat, syntax.OpAlternate:
		for _, sub := range re.Sub {
			if !matchBytes(sub, set) {
				return false
			}
		}
		return true
	}
	// Any character, and assertions about what is around the match.
	return false
}

// byteCounts counts ASCII bytes. It is an array, not a map, so that the
// walk below allocates nothing however large the pattern.
type byteCounts [128]int32

// requiredBytes returns the ASCII punctuation bytes every match holds.
func requiredBytes(re *syntax.Regexp) (m byteCounts) {
	punct := func(r rune) bool {
		return r > ' ' && r < 127 && !(r >= '0' && r <= '9' || r|0x20 >= 'a' && r|0x20 <= 'z')
	}
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if punct(r) {
				m[r]++
			}
		}
	case syntax.OpCharClass:
		if len(re.Rune) == 2 && re.Rune[0] == re.Rune[1] && punct(re.Rune[0]) {
			m[re.Rune[0]] = 1
		}
	case syntax.OpCapture, syntax.OpPlus:
		return requiredBytes(re.Sub[0])
	case syntax.OpRepeat:
		m = requiredBytes(re.Sub[0])
		for k, v := range m {
			m[k] = int32(min(64, int(v)*re.Min))
		}
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			r := requiredBytes(sub)
			for k, v := range r {
				m[k] = min(64, m[k]+v)
			}
		}
	case syntax.OpAlternate:
		for i, sub := range re.Sub {
			r := requiredBytes(sub)
			if i == 0 {
				m = r
				continue
			}
			for k, v := range m {
				m[k] = min(v, r[k])
			}
		}
	}
	return m
}

// treeFirstBytes returns the ASCII bytes the value group (group number g,
// 0 for the whole match) of a simplified pattern can start with, or nil
// when that is not known or not only ASCII.
func treeFirstBytes(re *syntax.Regexp, g int) *[256]bool {
	if re == nil {
		return nil
	}
	if g > 0 {
		re = findCapture(re, g)
		if re == nil {
			return nil
		}
	}
	var set [256]bool
	if nullable := firstBytes(re, &set); nullable {
		return nil
	}
	return &set
}

func findCapture(re *syntax.Regexp, g int) *syntax.Regexp {
	if re.Op == syntax.OpCapture && re.Cap == g {
		return re
	}
	for _, s := range re.Sub {
		if c := findCapture(s, g); c != nil {
			return c
		}
	}
	return nil
}

// firstBytes adds to set the bytes a match of re can start with and
// reports whether re can match the empty string (then what follows counts
// too). Non-ASCII first characters mark every byte >= 0x80.
func firstBytes(re *syntax.Regexp, set *[256]bool) bool {
	addRange := func(lo, hi rune, fold bool) { addByteRange(set, lo, hi, fold) }
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return true
		}
		addRange(re.Rune[0], re.Rune[0], re.Flags&syntax.FoldCase != 0)
		return false
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			addRange(re.Rune[i], re.Rune[i+1], false)
		}
		return false
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		addRange(0, 0x10FFFF, false)
		return false
	case syntax.OpCapture, syntax.OpPlus:
		return firstBytes(re.Sub[0], set)
	case syntax.OpStar, syntax.OpQuest:
		firstBytes(re.Sub[0], set)
		return true
	case syntax.OpRepeat:
		n := firstBytes(re.Sub[0], set)
		return n || re.Min == 0
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if !firstBytes(s, set) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		nullable := false
		for _, s := range re.Sub {
			if firstBytes(s, set) {
				nullable = true
			}
		}
		return nullable
	}
	return true // empty-width assertions and empty matches
}

// countLen is the fewest characters any match of re has.
func countLen(re *syntax.Regexp) int {
	return minWeight(re, 1<<16, func(leaf *syntax.Regexp) int {
		if leaf.Op == syntax.OpLiteral {
			return len(leaf.Rune)
		}
		return 1
	})
}

// countDigits is the fewest ASCII digits any match of re has: a literal
// counts its digits, a class of digits only counts one.
func countDigits(re *syntax.Regexp) int {
	return minWeight(re, 64, func(leaf *syntax.Regexp) int {
		switch leaf.Op {
		case syntax.OpLiteral:
			n := 0
			for _, r := range leaf.Rune {
				if r >= '0' && r <= '9' {
					n++
				}
			}
			return n
		case syntax.OpCharClass:
			if len(leaf.Rune) == 0 {
				return 0
			}
			for i := 0; i+1 < len(leaf.Rune); i += 2 {
				if leaf.Rune[i] < '0' || leaf.Rune[i+1] > '9' {
					return 0
				}
			}
			return 1
		}
		return 0
	})
}

// minWeight is the least total weight of any match of re, capped at limit,
// where weight gives what one literal, class or any-character match is
// worth. Assertions and empty matches weigh nothing.
func minWeight(re *syntax.Regexp, limit int, weight func(*syntax.Regexp) int) int {
	switch re.Op {
	case syntax.OpLiteral, syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return weight(re)
	case syntax.OpCapture, syntax.OpPlus:
		return minWeight(re.Sub[0], limit, weight)
	case syntax.OpRepeat:
		return min(limit, re.Min*minWeight(re.Sub[0], limit, weight))
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			n += minWeight(s, limit, weight)
		}
		return min(limit, n)
	case syntax.OpAlternate:
		n := -1
		for _, s := range re.Sub {
			if c := minWeight(s, limit, weight); n < 0 || c < n {
				n = c
			}
		}
		return max(n, 0)
	}
	return 0
}

// parseTimeout returns the effective rule timeout or a problem.
func (c Config) timeout() (time.Duration, error) {
	switch {
	case c.RuleTimeout == 0:
		return defaultTimeout, nil
	case c.RuleTimeout < 0 || c.RuleTimeout > maxTimeout:
		return defaultTimeout, fmt.Errorf("%sdetectors: rule_timeout: %v: want more than 0, at most %v", c.Pos.At("rule_timeout"), c.RuleTimeout, maxTimeout)
	}
	return c.RuleTimeout, nil
}

// addByteRange adds to set the ASCII runes from lo to hi (with their other
// case when fold), and every byte of 0x80 or more when the range goes
// beyond ASCII: all a UTF-8 sequence can start or end with.
func addByteRange(set *[256]bool, lo, hi rune, fold bool) {
	for r := lo; r <= hi && r < 128; r++ {
		set[r] = true
		if fold && r|0x20 >= 'a' && r|0x20 <= 'z' {
			set[r^0x20] = true
		}
	}
	if hi >= 128 {
		for b := 0x80; b < 256; b++ {
			set[b] = true
		}
	}
}
