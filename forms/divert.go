package forms

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/veilproxy/veil/detectors"
	"github.com/veilproxy/veil/vault"
)

// lastFourTypes are the types whose preview shows the last four
// characters, as cards and statements commonly do. Every other type is
// previewed by its name alone.
var lastFourTypes = map[string]bool{
	"card": true, "ssn": true, "itin": true, "iban": true, "bank_account": true,
	"aba_routing": true, "npi": true, "mbi": true, "health_plan_id": true, "mrn": true,
}

// oneTimeTypes are never kept past the one reveal (PCI DSS 3.3.1).
var oneTimeTypes = map[string]bool{"cvv": true, "card_track": true}

var typeLabels = map[string]string{
	"card": "card", "ssn": "SSN", "itin": "ITIN", "npi": "NPI", "mbi": "MBI", "dea": "DEA number",
	"iban": "IBAN", "cvv": "CVV", "card_track": "card track data", "card_expiry": "card expiry",
	"dob": "date of birth", "mrn": "MRN", "health_plan_id": "health plan ID", "aba_routing": "routing number",
	"bank_account": "bank account", "vin": "VIN", "ip": "IP address", "icd10": "ICD-10 code", "ndc": "NDC",
}

// typeLabel returns the readable name of a detector type.
func typeLabel(typ string) string {
	if l, ok := typeLabels[typ]; ok {
		return l
	}
	return strings.ReplaceAll(typ, "_", " ")
}

// preview returns the masked preview of a captured value: "card ending
// 1111" for types in lastFourTypes with at least eight letters or digits,
// the type's name otherwise.
func preview(typ string, value []byte) string {
	label := typeLabel(typ)
	if !lastFourTypes[typ] {
		return label
	}
	var alnum []byte
	for _, c := range value {
		if (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') {
			alnum = append(alnum, c)
		}
	}
	if len(alnum) < 8 {
		return label
	}
	return label + " ending " + string(alnum[len(alnum)-4:])
}

// diverter stores the values of one conversation in the vault. It keeps a
// keyed hash of each value it stored (under a random key of its own, never
// the value) so a repeated value gets the same link instead of a new
// record.
type diverter struct {
	s   *Server
	key [32]byte
	mu  sync.Mutex
	by  map[[sha256.Size]byte]divertEntry
}

type divertEntry struct {
	token, text string
	expires     time.Time
}

// maxDivertEntries bounds the memory of one conversation.
const maxDivertEntries = 4096

// NewDiverter returns a Diverter for one conversation, for
// proxy.Options.NewDiverter. Each value goes into the vault as a "capture"
// record (one-time for cvv and card_track) and is replaced by the link
// template; the same value twice returns the same link while that link can
// still be revealed.
func (s *Server) NewDiverter() detectors.Diverter {
	d := &diverter{s: s, by: map[[sha256.Size]byte]divertEntry{}}
	if _, err := rand.Read(d.key[:]); err != nil {
		panic(fmt.Sprintf("forms: reading random bytes: %v", err)) // crypto/rand does not fail on supported platforms
	}
	return d
}

// Divert implements detectors.Diverter.
func (d *diverter) Divert(ctx context.Context, f detectors.Finding, value []byte) (string, error) {
	mac := hmac.New(sha256.New, d.key[:])
	mac.Write([]byte(f.Type))
	mac.Write([]byte{0})
	mac.Write(value)
	var sum [sha256.Size]byte
	copy(sum[:], mac.Sum(nil))

	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.by[sum]; ok && d.s.now().Before(e.expires) {
		if m, err := d.s.vault.Peek(ctx, e.token); err == nil && m.State != "revealed" && m.State != "expired" {
			return e.text, nil
		}
	}
	link, err := d.s.vault.Put(ctx, vault.NewRecord{
		Kind:        "capture",
		Type:        f.Type,
		Preview:     preview(f.Type, value),
		Value:       value,
		OneTime:     oneTimeTypes[f.Type],
		PurgeOnView: true,
		Actor:       "proxy",
	})
	if err != nil {
		return "", fmt.Errorf("diverting %s: %w", f.Type, err)
	}
	revealURL := d.s.url(revealPath + link.Token)
	text := strings.NewReplacer(
		"{preview}", preview(f.Type, value),
		"{type}", f.Type,
		"{url}", revealURL,
		"{expires}", link.ExpiresAt.UTC().Format(time.RFC3339),
	).Replace(d.s.linkText)
	d.s.links.add(link.RecordID, bookEntry{reveal: revealPath + link.Token, expires: link.ExpiresAt}, d.s.now())
	if len(d.by) >= maxDivertEntries {
		clear(d.by)
	}
	d.by[sum] = divertEntry{token: link.Token, text: text, expires: link.ExpiresAt}
	return text, nil
}
