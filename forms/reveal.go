package forms

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/veilproxy/veil/forms/agent"
	"github.com/veilproxy/veil/vault"
)

// revealPage is the data of reveal.html (before the reveal).
type revealPage struct {
	Title     string
	What      string // "Payment card (secure form)" or "card (captured from chat)"
	Kind      string
	Preview   string
	State     string
	Waiting   bool // a form the visitor has not sent yet: nothing to reveal
	Expires   string
	Action    string
	CSRFField string
	CSRF      string
}

// revealedPage is the data of revealed.html: the one showing of a value.
type revealedPage struct {
	Title  string
	What   string
	Items  []revealedItem
	Erased bool // false: kept sealed until its retention ends (on_schedule)
	Kept   string
	Again  bool // the form allows further reveals until Kept
}

type revealedItem struct{ Label, Value string }

// revealJSON is the API answer of a reveal.
type revealJSON struct {
	Type      string          `json:"type"`
	Value     json.RawMessage `json:"value"`
	CreatedAt time.Time       `json:"created_at"`
}

// describe names what a record holds for the agent.
func (s *Server) describe(kind, typ string) string {
	if kind == "form" {
		if spec, ok := s.forms[typ]; ok {
			return spec.Title + " (secure form)"
		}
		return typ + " (secure form)"
	}
	return typeLabel(typ) + " (captured from chat)"
}

// revealGet serves GET /veil/r/{token}: what the link holds and a Reveal
// button. It consumes nothing, so link scanners and chat previews that
// fetch it change nothing.
func (s *Server) revealGet(w http.ResponseWriter, r *http.Request) {
	meta, err := s.vault.Peek(r.Context(), r.PathValue("token"))
	if err != nil || meta.State == vault.StateExpired || (meta.State == vault.StateRevealed && !s.revealAgain(meta)) {
		if err != nil && !isGone(err) {
			s.log.ErrorContext(r.Context(), "looking up reveal link failed", "err", err)
		}
		s.gone(w)
		return
	}
	p := revealPage{
		Title:     "Reveal " + s.describe(meta.Kind, meta.Type),
		What:      s.describe(meta.Kind, meta.Type),
		Kind:      meta.Kind,
		Preview:   meta.Preview,
		State:     meta.State,
		Waiting:   meta.Kind == "form" && meta.State == "waiting",
		Expires:   fmtTime(meta.ExpiresAt),
		Action:    r.URL.Path,
		CSRFField: agent.CSRFField,
		CSRF:      s.auth.CSRFToken(r),
	}
	s.render(w, http.StatusOK, "reveal.html", p)
}

// revealPost serves POST /veil/r/{token}: the one reveal. Sessions need the
// CSRF token; API clients authenticated by a bearer token (no cookie
// involved) do not. Failed reveals count against the agent's rate limit.
func (s *Server) revealPost(w http.ResponseWriter, r *http.Request) {
	id, _ := agent.FromContext(r.Context())
	api := agent.WantsJSON(r)
	if !s.csrfOK(w, r, id, api, "Open the link again and press Reveal.") {
		return
	}
	if s.auth.Throttled(r, id.Name) {
		s.auth.WriteThrottled(w, r, id.Name)
		return
	}
	revealOnce := true
	if meta, err := s.vault.Peek(r.Context(), r.PathValue("token")); err == nil {
		revealOnce = !s.revealAgain(meta)
		switch {
		case meta.Kind == "form" && meta.State == vault.StateWaiting:
			s.notYet(w, api)
			return
		case meta.State == vault.StateRevealed && !s.revealAgain(meta):
			// An on_schedule submission stays sealed until its ttl, but
			// its page is shown once unless the form allows more.
			s.auth.RecordFailure(r, id.Name)
			s.goneFor(w, api)
			return
		}
	}
	// The Peek above answers most repeat reveals early; RevealFirst makes
	// "shown once" hold for two reveals racing past it.
	reveal := s.vault.Reveal
	if revealOnce {
		reveal = s.vault.RevealFirst
	}
	rv, err := reveal(r.Context(), r.PathValue("token"), id.Name, s.clientIP(r))
	if errors.Is(err, vault.ErrWaiting) {
		s.notYet(w, api)
		return
	}
	if err != nil {
		if !isGone(err) {
			s.log.ErrorContext(r.Context(), "reveal failed", "err", err)
			if api {
				writeJSON(w, http.StatusServiceUnavailable, apiError{"the vault could not be read; try again"})
			} else {
				s.problem(w, http.StatusServiceUnavailable, "Something went wrong", "The vault could not be read. Nothing was consumed; try again in a minute.")
			}
			return
		}
		s.auth.RecordFailure(r, id.Name)
		s.goneFor(w, api)
		return
	}
	defer clear(rv.Value)
	s.log.InfoContext(r.Context(), "value revealed", "kind", rv.Kind, "type", rv.Type, "record", rv.RecordID, "actor", id.Name)
	if api {
		s.revealAPI(w, rv.Kind, rv.Type, rv.Value, rv.CreatedAt)
		return
	}
	p := revealedPage{
		Title:  "Revealed: " + s.describe(rv.Kind, rv.Type),
		What:   s.describe(rv.Kind, rv.Type),
		Items:  s.items(rv.Kind, rv.Type, rv.Value),
		Erased: true,
	}
	if rv.Kind == "form" {
		if spec, ok := s.forms[rv.Type]; ok && !spec.purgeOnView() && !spec.oneTime() {
			p.Erased = false
			p.Kept = fmtTime(rv.ExpiresAt)
			p.Again = spec.RevealAgain
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, http.StatusOK, "revealed.html", p)
}

// revealAgain reports whether a record already revealed may be revealed
// again: only submissions of on_schedule forms with reveal_again.
func (s *Server) revealAgain(m vault.Meta) bool {
	if m.Kind != "form" {
		return false
	}
	spec, ok := s.forms[m.Type]
	return ok && spec.RevealAgain && !spec.purgeOnView() && !spec.oneTime()
}

// notYet answers a reveal of a form the visitor has not sent.
func (s *Server) notYet(w http.ResponseWriter, api bool) {
	if api {
		writeJSON(w, http.StatusConflict, apiError{"the form has not been submitted yet"})
		return
	}
	s.problem(w, http.StatusConflict, "Not sent yet", "The visitor has not sent this form yet. Open the link again once they have.")
}

// goneFor writes the one answer for unknown, used and expired links.
func (s *Server) goneFor(w http.ResponseWriter, api bool) {
	if api {
		writeJSON(w, goneStatus, apiError{"this link is no longer available"})
		return
	}
	s.gone(w)
}

// revealAPI writes the JSON answer of a reveal: a form submission's value
// is the object of its fields, a capture's value a string.
func (s *Server) revealAPI(w http.ResponseWriter, kind, typ string, value []byte, created time.Time) {
	out := revealJSON{Type: typ, CreatedAt: created.UTC()}
	if kind == "form" && json.Valid(value) {
		out.Value = value
	} else {
		b, err := json.Marshal(string(value))
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, apiError{"internal error"})
			return
		}
		out.Value = b
	}
	writeJSON(w, http.StatusOK, out)
}

// items lays out a revealed value: a form's fields by their labels in the
// form's order, a capture as one item.
func (s *Server) items(kind, typ string, value []byte) []revealedItem {
	if kind != "form" {
		return []revealedItem{{Label: typeLabel(typ), Value: string(value)}}
	}
	var fields map[string]string
	if err := json.Unmarshal(value, &fields); err != nil {
		return []revealedItem{{Label: "Submission", Value: string(value)}}
	}
	var out []revealedItem
	if spec, ok := s.forms[typ]; ok {
		for _, f := range spec.Fields {
			if v, ok := fields[f.Name]; ok {
				out = append(out, revealedItem{Label: f.Label, Value: v})
				delete(fields, f.Name)
			}
		}
	}
	rest := make([]string, 0, len(fields))
	for k := range fields {
		rest = append(rest, k)
	}
	sort.Strings(rest)
	for _, k := range rest {
		out = append(out, revealedItem{Label: k, Value: fields[k]})
	}
	return out
}
