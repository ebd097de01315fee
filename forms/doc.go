// Package forms serves secure forms: an agent mints a one-time fill link, the
// visitor submits the form, and the submission is sealed into the vault for
// the agent to reveal once. It also serves the reveal page of values the
// proxy diverted, the agent inbox, and the Diverter the proxy uses. Sub-package
// agent authenticates agents.
//
// Forms come from the config's forms: section; when it declares none,
// DefaultForms (payment, insurance, identity) are offered. Validate tags
// use github.com/go-playground/validator/v10 with Veil's own tags added
// (ssn, npi, mbi, luhn, card, card_expiry, dob).
//
// Choices the pages make:
//
//   - Every link that cannot be used (unknown, already used, expired) gets
//     one identical "this link is no longer available" page with status
//     404, for fill and reveal links alike; API clients get 404 with a JSON
//     error.
//   - A GET never consumes anything: the fill page and the reveal page only
//     look the link up. Only the POST of the form, or of the Reveal button,
//     acts.
//   - The reveal page is behind agent login; its GET shows the type, the
//     masked preview and the expiry. A submission of an on_view form (the
//     default) and every diverted value are erased in the reveal's own
//     transaction. A submission of an on_schedule form stays sealed until
//     its ttl ends, for the purger, but its page is still shown once:
//     further reveals are refused unless the form sets reveal_again. Forms
//     with a one_time field (a CVV) are always erased on reveal.
//   - The vault keeps only hashes of link tokens, so the inbox can offer
//     only the links this process minted (kept in memory, lost on restart);
//     the inbox page says so.
//   - Values a visitor typed are never written back into a page: after an
//     error, sensitive fields (all fields unless sensitive: false) are empty
//     and the page says why. Messages are built from the field's label and
//     the failed tag, never from the value. Logs name forms, record ids and
//     types, never values, previews or tokens.
package forms
