package detectors

import (
	"context"
	"fmt"
	"strings"
)

// Action is what Veil does with a finding. Actions are ordered by strength:
// where findings overlap, the strongest wins (block > divert > mask > report).
type Action uint8

const (
	// ActionNone is the zero value; it never appears on a reported finding.
	ActionNone Action = iota
	// ActionReport forwards the value untouched and only counts it.
	ActionReport
	// ActionMask replaces the value in transit according to its mask style.
	ActionMask
	// ActionDivert masks the value and hands the original to a Diverter.
	ActionDivert
	// ActionBlock refuses the whole message.
	ActionBlock
)

var actionNames = [...]string{"", "report", "mask", "divert", "block"}

// String returns the config spelling of a.
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", a)
}

// ParseAction parses the config spelling of an action.
func ParseAction(s string) (Action, error) {
	for i, name := range actionNames {
		if i > 0 && strings.EqualFold(s, name) {
			return Action(i), nil
		}
	}
	return ActionNone, fmt.Errorf("unknown action %q (want mask, divert, block or report)", s)
}

// Finding is one detected value. It holds where the value is, never the
// value itself: callers that need the bytes slice the text they scanned.
type Finding struct {
	Type       string  // canonical type, such as "card" or "ssn"
	Rule       string  // id of the rule that matched
	Start, End int     // byte offsets into the scanned text, End exclusive
	Confidence float64 // 0 to 1
	Action     Action  // resolved action for this finding
}

// Diverter keeps the original value of a finding whose action is divert and
// returns the text that replaces the value in the message. An error refuses
// the message (fail closed). Implementations must be safe for concurrent use
// when shared between streams.
type Diverter interface {
	Divert(ctx context.Context, f Finding, value []byte) (replacement string, err error)
}

// RedactOptions tune one Redact call or one Stream.
type RedactOptions struct {
	// Diverter receives divert findings. Nil masks them instead.
	Diverter Diverter
	// Strict masks every run of six or more digits in addition to rule
	// findings (typing previews and similar fields).
	Strict bool
	// Preceding is text already released before this one on the same
	// conversation (the previous WebSocket message, say). It is scanned as
	// context only: a match that starts in Preceding and ends in the new
	// text is masked from the start of the new text.
	Preceding []byte
	// AfterCard says that the previous message of the conversation ended
	// with a card number (see CardAtEnd): an expiry and a security code
	// at the start of this text are that card's, as they would be right
	// after it in one message.
	AfterCard CardEnd
}

// CardEnd tells whether a message ended with a card number, for
// RedactOptions.AfterCard of the next one, and which of the card's expiry
// and code have been given since.
type CardEnd uint8

const (
	NoCard   CardEnd = 0
	Card     CardEnd = 1 << 0         // a card number, or its expiry or code after one
	AmexCard CardEnd = Card | amexBit // the same for an American Express card, whose code has four digits

	amexBit     CardEnd = 1 << 1
	expiryGiven CardEnd = 1 << 2
	codeGiven   CardEnd = 1 << 3
)

// CardAtEnd returns how text ends, given the findings Redact returned for
// it and the AfterCard it was scanned with: not NoCard when only
// separators follow its last finding and that finding is a card number,
// or an expiry or code of a card (of this text, or of the one before when
// the text holds nothing else), and the card still lacks one of them.
func CardAtEnd(text []byte, fs []Finding, after CardEnd) CardEnd {
	if len(fs) == 0 {
		return NoCard
	}
	last := fs[len(fs)-1]
	if last.End > len(text) || !onlyTailSeps(text[last.End:]) {
		return NoCard
	}
	end := after
	for i, f := range fs {
		switch {
		case f.Type == "card":
			end = Card
			if amexDigits(text[f.Start:f.End]) {
				end = AmexCard
			}
		case f.Type != "cvv" && f.Type != "card_expiry":
			end = NoCard
		case i == 0 && !onlyTailSeps(text[:f.Start]):
			end = NoCard // no card came right before it
		case end == NoCard:
		case f.Type == "cvv":
			end |= codeGiven
		default:
			end |= expiryGiven
		}
	}
	if end&(expiryGiven|codeGiven) == expiryGiven|codeGiven {
		return NoCard
	}
	return end
}

func onlyTailSeps(b []byte) bool {
	for _, c := range b {
		if !cardTailSep(c) && c != '.' {
			return false
		}
	}
	return true
}

// amexDigits reports whether the first two digits of v are 34 or 37.
func amexDigits(v []byte) bool {
	var d []byte
	for _, c := range v {
		if isDigit(c) {
			if d = append(d, c); len(d) == 2 {
				break
			}
		}
	}
	return len(d) == 2 && d[0] == '3' && (d[1] == '4' || d[1] == '7')
}

// Strongest returns the strongest action among findings, ActionNone if empty.
func Strongest(findings []Finding) Action {
	var a Action
	for _, f := range findings {
		if f.Action > a {
			a = f.Action
		}
	}
	return a
}

// Pos locates a config item for error messages: the file, the line of the
// item, and the line of each key written in it. The config loader fills it;
// it is empty for items built in code.
type Pos struct {
	File string
	Line int
	Keys map[string]int
}

// At returns "file:line: " for key (or for the item when key has no line),
// or "" when nothing is known.
func (p Pos) At(key string) string {
	line := p.Line
	if l, ok := p.Keys[key]; ok {
		line = l
	}
	switch {
	case p.File != "" && line > 0:
		return fmt.Sprintf("%s:%d: ", p.File, line)
	case line > 0:
		return fmt.Sprintf("line %d: ", line)
	case p.File != "":
		return p.File + ": "
	}
	return ""
}
