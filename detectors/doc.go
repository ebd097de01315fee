// Package detectors finds card numbers, health identifiers and other
// sensitive values in text, and masks them.
//
// Rules are written in YAML (RuleSpec) and compiled once into an Engine.
// The engine runs cheap checks first (keyword and digit prefilters), then the
// pattern, then a domain validator (Luhn, SSN ranges, NPI, DEA, MBI, IBAN,
// ABA, VIN). Findings carry type, rule, offsets and confidence, never the
// value. A Stream masks text that arrives in chunks and holds back only the
// tail that could still grow into a match.
package detectors
