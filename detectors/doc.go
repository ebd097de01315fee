// Package detectors finds card numbers, health identifiers and other
// sensitive values in text, and masks them.
//
// Rules are written in YAML (RuleSpec) and compiled once into an Engine:
// the embedded defaults (defaults.yaml, see DefaultRulesYAML) plus the
// configured rules, which replace defaults of the same id. Compile checks
// everything at once and runs the configured rules' samples (go test runs
// the defaults'); its errors read "file:line: rule \"id\": field:
// message". The defaults also live in defaults_table.go, generated from
// defaults.yaml by go generate, so that no process parses YAML to start.
//
// # How text is scanned
//
// One pass over the bytes splits the text into words and runs an
// Aho-Corasick automaton for every rule's keywords and context words. Words
// made only of ASCII letters and light punctuation, holding no keyword, are
// inert: no pattern runs on them. The other words, with the spaces between
// them, form islands (at most about 1 KiB each); only islands are scanned.
// For each island a normalised view is built (Unicode digits to ASCII,
// zero-width and other format characters removed, Unicode spaces and dashes
// to ASCII), with a map back to the original bytes: findings always point
// into the original text. Rules then run cheapest check first: keyword and
// context-word presence, digit, length and punctuation counts derived from
// the pattern, the pattern itself (Go's RE2 for the defaults, regexp2 with
// a match timeout for configured rules; rules with required context run
// only next to their context words), and the validator (Luhn, SSN ranges,
// NPI, DEA, MBI, IBAN, ABA, VIN) on the value with separators removed.
//
// Overlapping findings merge: the strongest action wins (block > divert >
// mask > report), then the highest confidence. A configured rule that runs
// out of time counts as a finding over the whole island it was scanning.
//
// # Streams
//
// A Stream runs the same code on text that arrives in chunks. Every
// decision depends only on bytes already seen, and text is released as soon
// as no later byte can change it: ordinary words go out at once, an island
// is held until it closes (and, after a context word of a rule whose values
// are words, such as a name or an address, for that rule's reach). The
// output of any split equals Redact of the whole text.
package detectors
