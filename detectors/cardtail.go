package detectors

// A card number is often pasted with its expiry and security code and no
// word for either: "4111 1111 1111 1111 12/27 123". The expiry and code
// rules need a context word, so they would leave both in the clear; here
// the card is their context. Right after a card finding, separated from it
// and from each other only by a few spaces, line breaks or light
// separators, an expiry (MM/YY, MM YY, MM|YYYY, MMYY…) and a security code
// (three digits, four after an American Express number) are findings of
// those rules, in either order.

// cardTailGap is how many separator bytes may stand before each value.
const cardTailGap = 3

func cardTailSep(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '/', '|', ',', ';', '-':
		return true
	}
	return false
}

// cardTail appends the expiry and the security code that follow the card
// number at [start, end) inside the island view isl of segment sg. It
// returns the span they take, in absolute offsets (empty if none).
func (s *scanner) cardTail(isl *view, start, end int, sg segment) cardTailSpan {
	card := Card
	if amexDigits(isl.from(start).b) {
		card = AmexCard
	}
	return s.tailFrom(isl, end, card, true, sg)
}

// tailFrom appends the expiry and the security code (those card has not
// given yet) of a card that ends at from (absolute, inside isl), separated
// from it when sep is set; a text that follows a message ending with a
// card starts with them unseparated.
func (s *scanner) tailFrom(isl *view, from int, card CardEnd, sep bool, sg segment) (tail cardTailSpan) {
	expiry, cvv := s.e.tailExpiry, s.e.tailCVV
	if card&expiryGiven != 0 {
		expiry = nil
	}
	if card&codeGiven != 0 {
		cvv = nil
	}
	if expiry == nil && cvv == nil {
		return
	}
	amex := card&amexBit != 0
	t := isl.from(from)
	b := t.b
	k := 0
	for i := range 2 {
		gap := 0
		for k < len(b) && cardTailSep(b[k]) {
			k++
			gap++
		}
		if gap == 0 && (sep || i > 0) || gap > cardTailGap || k == len(b) {
			return
		}
		n := digitRun(b, k)
		e := k + n
		var rule *Rule
		switch {
		case n == 3 || n == 4 && amex && cvv != nil:
			rule, cvv = cvv, nil
		case n == 4 && validMonth(b[k:k+2]): // MMYY
			rule, expiry = expiry, nil
		case (n == 1 || n == 2) && validMonth(b[k:e]):
			// MM, one to three separators, then YY or YYYY.
			j := e
			for j < len(b) && j-e < cardTailGap && (cardTailSep(b[j]) || b[j] == '.') {
				j++
			}
			if m := digitRun(b, j); j > e && (m == 2 || m == 4) {
				rule, e = expiry, j+m
				expiry = nil
			}
		}
		// The value must end there: not go on as a date, a range or a
		// decimal number.
		if rule == nil || e < len(b) && (b[e] == '/' || (b[e] == '-' || b[e] == '.') && e+1 < len(b) && isDigit(b[e+1])) {
			return
		}
		os, oe := t.orig(k, e)
		if oe > sg.b {
			return
		}
		action := s.e.actionOf(rule)
		s.finds = append(s.finds, found{s: os, e: oe, rule: rule, conf: rule.confidence, action: action, ctxGap: -1})
		if tail.e == 0 {
			tail.s, tail.action = os, action
		}
		tail.e, tail.action = oe, min(tail.action, action)
		k = e
	}
	return
}

// cardTailSpan is where a card's tail lies, and the weakest action of its
// findings.
type cardTailSpan struct {
	s, e   int
	action Action
}

// dropInsideTails removes the findings from s.finds[from:] of rules other
// than the card, expiry and code rules that lie inside a card's tail, with
// an action no stronger than the tail's: "4111 1111 1111 1111 321 11/2026"
// holds a code and an expiry, not the SSN its digits also spell. The
// tail's findings mask every digit of such a finding.
func (s *scanner) dropInsideTails(from int, tails []cardTailSpan) {
	kept := s.finds[:from]
	for _, f := range s.finds[from:] {
		if f.rule != s.e.tailExpiry && f.rule != s.e.tailCVV && f.rule.scanner != "card" && insideTail(f, tails) {
			continue
		}
		kept = append(kept, f)
	}
	s.finds = kept
}

func insideTail(f found, tails []cardTailSpan) bool {
	for _, t := range tails {
		if f.s >= t.s && f.e <= t.e && f.action <= t.action {
			return true
		}
	}
	return false
}

// validMonth reports whether the one or two digits in b are 1 to 12.
func validMonth(b []byte) bool {
	m := 0
	for _, c := range b {
		m = m*10 + int(c-'0')
	}
	return m >= 1 && m <= 12
}
