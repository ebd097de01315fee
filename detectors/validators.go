package detectors

// Validators are the domain checks that run after a pattern matched. Each is
// a pure, allocation-free function on a normalised value: separators
// removed, ASCII digits, upper-case ASCII letters. Anything else in the
// input makes a validator return false; none of them panics.

// Luhn reports whether d is a string of at least two ASCII digits whose
// Luhn (mod 10) checksum is zero.
func Luhn(d []byte) bool {
	if len(d) < 2 {
		return false
	}
	sum, ok := luhnSum(d, 0)
	return ok && sum%10 == 0
}

// luhnSum adds the Luhn contributions of the digits in d to sum, the
// rightmost digit undoubled. ok is false when d holds a non-digit.
func luhnSum(d []byte, sum int) (int, bool) {
	double := false
	for i := len(d) - 1; i >= 0; i-- {
		c := d[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v := int(c - '0')
		if double {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	return sum, true
}

// allDigits reports whether d is non-empty and holds only ASCII digits.
func allDigits(d []byte) bool {
	if len(d) == 0 {
		return false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// prefixNum returns the number formed by the first n digits of d, or -1
// when d is shorter than n.
func prefixNum(d []byte, n int) int {
	if len(d) < n {
		return -1
	}
	v := 0
	for _, c := range d[:n] {
		v = v*10 + int(c-'0')
	}
	return v
}

// Card brands returned by CardBrand.
const (
	BrandVisa       = "visa"
	BrandMastercard = "mastercard"
	BrandAmex       = "amex"
	BrandDiscover   = "discover"
	BrandJCB        = "jcb"
	BrandDiners     = "diners"
	BrandUnionPay   = "unionpay"
	BrandMaestro    = "maestro"
)

// CardBrand returns the brand whose issuer identification number range and
// length fit the digits d, or "" when none does. It does not check Luhn.
// Where ranges overlap the more specific brand wins (Discover's 622126 to
// 622925 over UnionPay's 62, both over Maestro).
func CardBrand(d []byte) string {
	n := len(d)
	if n < 12 || n > 19 || !allDigits(d) {
		return ""
	}
	p1, p2, p3 := prefixNum(d, 1), prefixNum(d, 2), prefixNum(d, 3)
	p4, p6 := prefixNum(d, 4), prefixNum(d, 6)
	in := func(lo, hi int) bool { return n >= lo && n <= hi }
	switch {
	case p1 == 4:
		if n == 13 || n == 16 || n == 19 {
			return BrandVisa
		}
		return ""
	case (p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720):
		if n == 16 {
			return BrandMastercard
		}
		return ""
	case p2 == 34 || p2 == 37:
		if n == 15 {
			return BrandAmex
		}
		return ""
	case p4 >= 3528 && p4 <= 3589:
		if in(16, 19) {
			return BrandJCB
		}
		return ""
	case (p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39:
		if in(14, 19) {
			return BrandDiners
		}
		return ""
	}
	if p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65 || (p6 >= 622126 && p6 <= 622925) {
		if in(16, 19) {
			return BrandDiscover
		}
	}
	if p2 == 62 && in(16, 19) {
		return BrandUnionPay
	}
	if p2 == 50 || (p2 >= 56 && p2 <= 69) {
		return BrandMaestro
	}
	return ""
}

// ValidCard reports whether d is a payment card number: 12 to 19 digits,
// a known brand's range and length, and a valid Luhn checksum.
func ValidCard(d []byte) bool {
	return CardBrand(d) != "" && Luhn(d)
}

// advertisedSSN reports whether d is a number printed on sample cards or
// in advertising, used by so many people that it identifies no one.
func advertisedSSN(d []byte) bool {
	switch string(d) {
	case "078051120", // the Woolworth wallet card
		"219099999", // the Social Security Board's sample card
		"123456789",
		"457555462": // published in an identity-protection advertisement
		return true
	}
	return false
}

// ValidSSN reports whether d is a 9-digit Social Security number that the
// SSA could have issued: area not 000, 666 or 900-999, group not 00, serial
// not 0000, and not a known advertised number.
func ValidSSN(d []byte) bool {
	if len(d) != 9 || !allDigits(d) {
		return false
	}
	area, group, serial := prefixNum(d, 3), prefixNum(d[3:], 2), prefixNum(d[5:], 4)
	if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
		return false
	}
	return !advertisedSSN(d)
}

// ValidITIN reports whether d is a 9-digit Individual Taxpayer
// Identification Number: area 9xx and group 50-65, 70-88, 90-92 or 94-99.
func ValidITIN(d []byte) bool {
	if len(d) != 9 || !allDigits(d) || d[0] != '9' {
		return false
	}
	g := prefixNum(d[3:], 2)
	return (g >= 50 && g <= 65) || (g >= 70 && g <= 88) || (g >= 90 && g <= 92) || g >= 94
}

// ValidNPI reports whether d is a 10-digit National Provider Identifier
// whose check digit is right: Luhn over "80840" followed by the ten digits,
// as CMS specifies (the prefix contributes a constant 24).
func ValidNPI(d []byte) bool {
	if len(d) != 10 {
		return false
	}
	sum, ok := luhnSum(d, 24)
	return ok && sum%10 == 0
}

// ValidDEA reports whether s is a DEA registration number: a registrant
// type letter, the registrant's initial (or 9), and seven digits whose last
// is the checksum (d1+d3+d5 + 2*(d2+d4+d6)) mod 10.
func ValidDEA(s []byte) bool {
	if len(s) != 9 {
		return false
	}
	switch s[0] {
	case 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'J', 'K', 'L', 'M', 'P', 'R', 'S', 'T', 'U', 'X':
	default:
		return false
	}
	if !(s[1] >= 'A' && s[1] <= 'Z') && s[1] != '9' {
		return false
	}
	d := s[2:]
	if !allDigits(d) {
		return false
	}
	v := func(i int) int { return int(d[i] - '0') }
	sum := v(0) + v(2) + v(4) + 2*(v(1)+v(3)+v(5))
	return sum%10 == v(6)
}

// mbiLetter reports whether c is a letter allowed in an MBI (A-Z without
// S, L, O, I, B and Z).
func mbiLetter(c byte) bool {
	if c < 'A' || c > 'Z' {
		return false
	}
	switch c {
	case 'S', 'L', 'O', 'I', 'B', 'Z':
		return false
	}
	return true
}

// ValidMBI reports whether s is a Medicare Beneficiary Identifier in the
// CMS format: 11 characters C A AN N A AN N A A N N, where C is 1-9, N is
// 0-9, A is a letter other than S L O I B Z, and AN is either.
func ValidMBI(s []byte) bool {
	if len(s) != 11 {
		return false
	}
	const format = "CAXNAXNAANN"
	for i := range len(format) {
		c := s[i]
		digit := c >= '0' && c <= '9'
		switch format[i] {
		case 'C':
			if c < '1' || c > '9' {
				return false
			}
		case 'N':
			if !digit {
				return false
			}
		case 'A':
			if !mbiLetter(c) {
				return false
			}
		case 'X':
			if !digit && !mbiLetter(c) {
				return false
			}
		}
	}
	return true
}

// ibanLength returns the IBAN length of a country in the SWIFT IBAN
// registry, or 0 for a country that issues no IBAN.
func ibanLength(a, b byte) int {
	switch string([]byte{a, b}) {
	case "NO":
		return 15
	case "BE":
		return 16
	case "DK", "FI", "FK", "FO", "GL", "NL", "SD":
		return 18
	case "MK", "SI":
		return 19
	case "AT", "BA", "EE", "KZ", "LT", "LU", "MN", "XK":
		return 20
	case "CH", "HR", "LI", "LV":
		return 21
	case "BG", "BH", "CR", "DE", "GB", "GE", "IE", "ME", "RS", "VA":
		return 22
	case "AE", "GI", "IL", "IQ", "OM", "SO", "TL":
		return 23
	case "AD", "CZ", "ES", "MD", "PK", "RO", "SA", "SE", "SK", "TN", "VG":
		return 24
	case "LY", "PT", "ST":
		return 25
	case "IS", "TR":
		return 26
	case "BI", "DJ", "FR", "GR", "IT", "MC", "MR", "SM":
		return 27
	case "AL", "AZ", "BY", "CY", "DO", "GT", "HN", "HU", "LB", "NI", "PL", "SV":
		return 28
	case "BR", "EG", "PS", "QA", "UA":
		return 29
	case "JO", "KW", "MU", "YE":
		return 30
	case "MT", "SC":
		return 31
	case "LC":
		return 32
	case "RU":
		return 33
	}
	return 0
}

// ValidIBAN reports whether s is an International Bank Account Number: a
// registry country code, two check digits, an alphanumeric account part of
// the country's length, and the ISO 7064 mod 97-10 checksum equal to 1.
func ValidIBAN(s []byte) bool {
	if len(s) < 15 || len(s) > 34 {
		return false
	}
	if s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' {
		return false
	}
	if ibanLength(s[0], s[1]) != len(s) {
		return false
	}
	if s[2] < '0' || s[2] > '9' || s[3] < '0' || s[3] > '9' {
		return false
	}
	rem := 0
	add := func(c byte) bool {
		switch {
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			rem = (rem*100 + int(c-'A') + 10) % 97
		default:
			return false
		}
		return true
	}
	for _, c := range s[4:] {
		if !add(c) {
			return false
		}
	}
	for _, c := range s[:4] {
		add(c)
	}
	return rem == 1
}

// ValidABA reports whether d is a 9-digit ABA routing transit number: a
// Federal Reserve prefix (00-12, 21-32, 61-72 or 80) and the 3-7-1
// weighted checksum divisible by 10.
func ValidABA(d []byte) bool {
	if len(d) != 9 || !allDigits(d) {
		return false
	}
	p := prefixNum(d, 2)
	if !(p <= 12 || (p >= 21 && p <= 32) || (p >= 61 && p <= 72) || p == 80) {
		return false
	}
	weights := [9]int{3, 7, 1, 3, 7, 1, 3, 7, 1}
	sum := 0
	for i, c := range d {
		sum += weights[i] * int(c-'0')
	}
	return sum%10 == 0
}

// vinValue returns the transliterated value of a VIN character, or -1 for
// a character a VIN cannot hold (I, O, Q and anything not alphanumeric).
func vinValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'H':
		return int(c-'A') + 1
	case c >= 'J' && c <= 'N':
		return int(c-'J') + 1
	case c == 'P':
		return 7
	case c == 'R':
		return 9
	case c >= 'S' && c <= 'Z':
		return int(c-'S') + 2
	}
	return -1
}

// ValidVIN reports whether s is a 17-character vehicle identification
// number (no I, O or Q) whose ninth character is the check digit of the
// ISO 3779 / 49 CFR 565 weighted sum mod 11 (10 written as X).
func ValidVIN(s []byte) bool {
	if len(s) != 17 {
		return false
	}
	weights := [17]int{8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2}
	sum := 0
	for i, c := range s {
		v := vinValue(c)
		if v < 0 {
			return false
		}
		sum += v * weights[i]
	}
	check := byte('0' + sum%11)
	if sum%11 == 10 {
		check = 'X'
	}
	return s[8] == check
}

// ValidatorByName returns the validator a rule names: card, luhn, ssn,
// itin, npi, dea, mbi, iban, aba or vin.
func ValidatorByName(name string) (func([]byte) bool, bool) {
	switch name {
	case "card":
		return ValidCard, true
	case "luhn":
		return Luhn, true
	case "ssn":
		return ValidSSN, true
	case "itin":
		return ValidITIN, true
	case "npi":
		return ValidNPI, true
	case "dea":
		return ValidDEA, true
	case "mbi":
		return ValidMBI, true
	case "iban":
		return ValidIBAN, true
	case "aba":
		return ValidABA, true
	case "vin":
		return ValidVIN, true
	}
	return nil, false
}
