package detectors

// Shape checks are hand-written necessary conditions for the patterns of
// some embedded rules: when a check fails, the pattern cannot match and the
// regular expression is not run. They only ever skip work: a check that
// passes leads to the pattern as before, so findings do not change. Each
// check is tied to the pattern of the rule of the same id in defaults.yaml
// and must be revised with it; configured rules (even ones that replace a
// default by id) never get one.

// shapeChecks returns the checks of the embedded rule id: whole tells
// whether a pattern search of all of b can match, at whether the anchored
// pattern can match a value starting at b[i] (b ends where the anchored
// pattern's input ends). Either may be nil.
func shapeChecks(id string) (whole func(b []byte) bool, at func(b []byte, i int) bool) {
	switch id {
	case "ssn", "itin":
		return groups324, nil
	case "phone":
		return phoneShape, nil
	case "mbi":
		return mbiShape, nil
	case "iban":
		return ibanShape, nil
	case "ip6":
		return ip6Shape, nil
	case "dea":
		return deaShape, nil
	case "card_expiry":
		return nil, expiryAt
	case "ssn_bare":
		return nil, digitsAt(9, 9)
	case "aba_routing":
		return nil, abaAt
	case "itin_bare":
		return nil, func(b []byte, i int) bool { return b[i] == '9' && digitRun(b, i) == 9 }
	case "phone_bare":
		return nil, phoneBareAt
	case "mrn":
		return nil, mrnAt
	case "bank_account":
		return nil, bankAccountAt
	case "zip":
		return nil, digitsAt(5, 5)
	case "cvv":
		return nil, digitsAt(3, 4)
	case "dob":
		return nil, dobAt
	case "npi":
		return nil, npiAt
	case "address":
		return nil, addressAt
	}
	return nil, nil
}

func alnumByte(c byte) bool { return isDigit(c) || letterByte(c) }

// digitRun returns the length of the run of ASCII digits at b[i:].
func digitRun(b []byte, i int) int {
	k := i
	for k < len(b) && isDigit(b[k]) {
		k++
	}
	return k - i
}

// groups324 reports three consecutive digit runs of exactly 3, 2 and 4
// digits, each gap 1 to 3 bytes: the shape of an SSN or ITIN in groups.
func groups324(b []byte) bool {
	var l1, l2, g2 int // the last two runs' lengths, the gap between them
	prevEnd := -1
	for i := 0; i < len(b); {
		if !isDigit(b[i]) {
			i++
			continue
		}
		n := digitRun(b, i)
		gap := i - prevEnd
		if prevEnd < 0 {
			gap = 0
		}
		if n == 4 && l2 == 2 && l1 == 3 && g2 >= 1 && g2 <= 3 && gap >= 1 && gap <= 3 {
			return true
		}
		l1, l2, g2 = l2, n, gap
		prevEnd = i + n
		i += n
	}
	return false
}

// phoneShape reports a run of exactly 4 digits one byte after a run of
// exactly 3, or a run of exactly 7 one or two bytes after a run of 3: the
// exchange and line number of a North American phone number.
func phoneShape(b []byte) bool {
	prevLen, prevEnd := 0, -10
	for i := 0; i < len(b); {
		if !isDigit(b[i]) {
			i++
			continue
		}
		n := digitRun(b, i)
		if prevLen == 3 && (n == 4 && i-prevEnd == 1 || n == 7 && i-prevEnd <= 2) {
			return true
		}
		prevLen, prevEnd = n, i+n
		i += n
	}
	return false
}

// mbiShape reports an MBI's eleven characters in CMS's layout, with the
// two optional separators, starting an alphanumeric run. Tracking numbers
// such as 1Z999AA1... start like one and fail here, not in the pattern.
func mbiShape(b []byte) bool {
	for i := 0; i+10 < len(b); i++ {
		if b[i] >= '1' && b[i] <= '9' && (i == 0 || !alnumByte(b[i-1])) && mbiAt(b, i) {
			return true
		}
	}
	return false
}

// mbiAt matches [1-9] L A D [ -]? L A D [ -]? L L D D at b[i:] (L a
// letter, A a letter or digit, D a digit).
func mbiAt(b []byte, i int) bool {
	const (
		letter = iota
		alnum
		digit
		sep
	)
	layout := [...]uint8{letter, alnum, digit, sep, letter, alnum, digit, sep, letter, letter, digit, digit}
	k := i + 1 // b[i] is the leading digit
	for _, want := range layout {
		if want == sep {
			if k < len(b) && (b[k] == ' ' || b[k] == '-') {
				k++
			}
			continue
		}
		if k >= len(b) {
			return false
		}
		c := b[k]
		switch want {
		case letter:
			if !letterByte(c) {
				return false
			}
		case alnum:
			if !alnumByte(c) {
				return false
			}
		default:
			if !isDigit(c) {
				return false
			}
		}
		k++
	}
	return true
}

// ibanShape reports two letters and two digits starting an alphanumeric
// run, as every IBAN starts.
func ibanShape(b []byte) bool {
	for i := 0; i+3 < len(b); i++ {
		if letterByte(b[i]) && letterByte(b[i+1]) && isDigit(b[i+2]) && isDigit(b[i+3]) && (i == 0 || !alnumByte(b[i-1])) {
			return true
		}
	}
	return false
}

// deaShape reports a letter, a letter or 9, and seven digits starting an
// alphanumeric run: a DEA number.
func deaShape(b []byte) bool {
	for i := 0; i+8 < len(b); i++ {
		if letterByte(b[i]) && (letterByte(b[i+1]) || b[i+1] == '9') && (i == 0 || !alnumByte(b[i-1])) && digitRun(b, i+2) >= 7 {
			return true
		}
	}
	return false
}

// expiryAt reports how a card expiry can start at b[i:]: one or two
// digits, an optional space and a date separator; two digits, a space and
// a digit; or four or six digits that start with a month.
func expiryAt(b []byte, i int) bool {
	n := digitRun(b, i)
	if (n == 4 || n == 6) && validMonth(b[i:i+2]) {
		return true // MMYY, MMYYYY
	}
	if n < 1 || n > 2 {
		return false
	}
	k := i + n
	if k < len(b) && b[k] == ' ' {
		k++
		if n == 2 && k < len(b) && isDigit(b[k]) {
			return true
		}
	}
	return k < len(b) && (b[k] == '/' || b[k] == '-' || b[k] == '.')
}

// ip6Shape reports what every IPv6 match in b holds: a hex digit with
// "::" after it, or seven hex digits each with a colon after it.
func ip6Shape(b []byte) bool {
	groups := 0
	for i := 1; i < len(b); i++ {
		if b[i] != ':' || !hexByte(b[i-1]) {
			continue
		}
		if i+1 < len(b) && b[i+1] == ':' {
			return true
		}
		if groups++; groups == 7 {
			return true
		}
	}
	return false
}

func hexByte(c byte) bool { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' }

// npiAt reports the NPI layout at b[i:]: a 1 or 2 and three digits, then
// two groups of three digits, each perhaps after a space or a dash.
func npiAt(b []byte, i int) bool {
	if b[i] != '1' && b[i] != '2' {
		return false
	}
	k := i
	for g, n := range [3]int{4, 3, 3} {
		if g > 0 && k < len(b) && (b[k] == ' ' || b[k] == '-') {
			k++
		}
		if digitRun(b, k) < n {
			return false
		}
		k += n
	}
	return true
}

// abaAt reports how a routing number can start at b[i:]: nine digits, or
// three and a dash or a space.
func abaAt(b []byte, i int) bool {
	n := digitRun(b, i)
	return n == 9 || n == 3 && i+3 < len(b) && (b[i+3] == '-' || b[i+3] == ' ')
}

// mrnAt reports how a medical record number can start at b[i:]: six to
// twelve digits, perhaps after one to three letters and a dash, or two to
// six digits and a dash.
func mrnAt(b []byte, i int) bool {
	k := i
	for k < len(b) && k-i < 3 && letterByte(b[k]) {
		k++
	}
	if k > i && k < len(b) && b[k] == '-' {
		k++
	}
	n := digitRun(b, k)
	return n >= 6 && n <= 12 || k == i && n >= 2 && n <= 6 && i+n < len(b) && b[i+n] == '-'
}

// addressAt reports how a street address can start at b[i:]: "po" with
// perhaps a dot and a space between (a PO box), or one to six
// digits and perhaps a letter (221B), then one to four words of letters,
// digits and dots and a street word, each after one space.
func addressAt(b []byte, i int) bool {
	if b[i]|0x20 == 'p' {
		k := i + 1
		if k < len(b) && b[k] == '.' {
			k++
		}
		if k < len(b) && b[k] == ' ' {
			k++
		}
		return k < len(b) && b[k]|0x20 == 'o'
	}
	n := digitRun(b, i)
	if n < 1 || n > 6 {
		return false
	}
	k := i + n
	if k < len(b) && letterByte(b[k]) {
		k++
	}
	for t := 1; t <= 5; t++ {
		if k >= len(b) || b[k] != ' ' {
			return false
		}
		k++
		if t >= 2 && streetWordAt(b, k) {
			return true
		}
		start := k
		for k < len(b) && (alnumByte(b[k]) || b[k] == '.') {
			k++
		}
		if k == start {
			return false
		}
	}
	return false
}

// streetWords are the street words of the address pattern, lower-case.
var streetWords = [...]string{"street", "st", "avenue", "ave", "road", "rd", "boulevard", "blvd", "lane", "ln", "drive", "dr", "court", "ct", "way", "place", "pl", "terrace", "circle", "cir", "parkway", "pkwy", "highway", "hwy",
	"loop", "plaza", "plz", "square", "sq", "trail", "trl", "cove", "alley", "crescent", "expressway", "expy", "freeway", "fwy"}

// streetWordAt reports a street word at b[i:], ending before a byte that
// is not a letter or digit. Non-ASCII bytes may fold to ASCII letters
// under (?i): they count as a possible street word.
func streetWordAt(b []byte, i int) bool {
	k := i
	for k < len(b) && (letterByte(b[k]) || b[k] >= 0x80) {
		if b[k] >= 0x80 {
			return true
		}
		k++
	}
	if k == i || k < len(b) && isDigit(b[k]) {
		return false
	}
	for _, w := range streetWords {
		if len(w) == k-i && equalFoldASCII(b[i:k], w) {
			return true
		}
	}
	return false
}

// monthAt reports a month's three-letter abbreviation at b[i:] (or a
// non-ASCII byte, which may fold to one under (?i)).
func monthAt(b []byte, i int) bool {
	if b[i] >= 0x80 {
		return true
	}
	if i+3 > len(b) {
		return false
	}
	for _, m := range [...]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"} {
		if equalFoldASCII(b[i:i+3], m) {
			return true
		}
	}
	return false
}

// equalFoldASCII reports whether b equals the lower-case ASCII word w,
// ignoring ASCII case.
func equalFoldASCII(b []byte, w string) bool {
	for k := range len(w) {
		if b[k]|0x20 != w[k] {
			return false
		}
	}
	return true
}

// digitsAt returns a check for a run of lo to hi digits at b[i:].
func digitsAt(lo, hi int) func([]byte, int) bool {
	return func(b []byte, i int) bool {
		n := digitRun(b, i)
		return n >= lo && n <= hi
	}
}

// bankAccountAt reports how an account number can start at b[i:]: six to
// seventeen digits, four and a space (groups of four), or two to six and a
// dash (dashed groups, as New Zealand writes them).
func bankAccountAt(b []byte, i int) bool {
	n := digitRun(b, i)
	if n >= 6 && n <= 17 {
		return true
	}
	next := i + n
	return next+1 < len(b) && isDigit(b[next+1]) &&
		(n == 4 && b[next] == ' ' || n >= 2 && n <= 6 && b[next] == '-')
}

// phoneBareAt reports how a phone number after a phone word can start at
// b[i:], after an optional +: ten or eleven digits, or three digits and a
// separator and three more digits, perhaps after a 1 (and a separator).
func phoneBareAt(b []byte, i int) bool {
	if b[i] == '+' {
		i++
	}
	n := digitRun(b, i)
	switch {
	case n == 1 && b[i] == '1' && i+1 < len(b) && phoneSep(b[i+1]):
		i += 2
		n = digitRun(b, i)
	case n == 4 && b[i] == '1':
		i, n = i+1, 3
	}
	if n == 10 || n == 11 {
		return true
	}
	return n == 3 && i+4 < len(b) && phoneSep(b[i+3]) && digitRun(b, i+4) == 3
}

func phoneSep(c byte) bool { return c == '-' || c == '.' || c == ' ' }

// dobAt reports how a date of birth can start at b[i:]: a month name, a
// four-digit year and a date separator, one or two digits and a
// separator, a space or a letter (an ordinal suffix or a month name), or
// eight digits.
func dobAt(b []byte, i int) bool {
	n := digitRun(b, i)
	switch {
	case n == 0:
		return monthAt(b, i)
	case n == 8:
		return true // MMDDYYYY
	case i+n >= len(b):
		return false
	}
	c := b[i+n]
	switch n {
	case 1, 2:
		return c == '/' || c == '-' || c == '.' || c == ' ' || letterByte(c)
	case 4:
		return c == '/' || c == '-' || c == '.'
	}
	return false
}
