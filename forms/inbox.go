package forms

import (
	"net/http"

	"github.com/veilproxy/veil/forms/agent"
)

// inboxPage is the data of inbox.html.
type inboxPage struct {
	Title     string
	Agent     string
	Items     []inboxItem
	Forms     []FormSpec
	CSRFField string
	CSRF      string
}

// inboxItem is one record in the inbox: masked preview only.
type inboxItem struct {
	ID, Kind, What, Preview, State, Created, Expires string
	FillURL, RevealURL                               string
}

// inbox serves GET /veil/agent: pending forms and diverted captures,
// newest first, with the links this process minted.
func (s *Server) inbox(w http.ResponseWriter, r *http.Request) {
	id, _ := agent.FromContext(r.Context())
	metas, err := s.vault.List(r.Context(), inboxLimit)
	if err != nil {
		s.log.ErrorContext(r.Context(), "listing the vault failed", "err", err)
		s.problem(w, http.StatusServiceUnavailable, "Something went wrong", "The vault could not be read. Try again in a minute.")
		return
	}
	p := inboxPage{
		Title:     "Inbox",
		Agent:     id.Name,
		CSRFField: agent.CSRFField,
		CSRF:      s.auth.CSRFToken(r),
	}
	for _, name := range s.order {
		p.Forms = append(p.Forms, s.forms[name])
	}
	now := s.now()
	for _, m := range metas {
		state := m.State
		if state != "revealed" && !m.ExpiresAt.IsZero() && !now.Before(m.ExpiresAt) {
			state = "expired"
		}
		it := inboxItem{
			ID:      m.RecordID,
			Kind:    m.Kind,
			What:    s.describe(m.Kind, m.Type),
			Preview: m.Preview,
			State:   state,
			Created: fmtTime(m.CreatedAt),
			Expires: fmtTime(m.ExpiresAt),
		}
		if e, ok := s.links.get(m.RecordID); ok {
			switch {
			case state == "waiting" && m.Kind == "form":
				it.FillURL, it.RevealURL = s.url(e.fill), s.url(e.reveal)
			case state == "submitted" || (state == "waiting" && m.Kind != "form"):
				it.RevealURL = s.url(e.reveal)
			}
		}
		p.Items = append(p.Items, it)
	}
	s.render(w, http.StatusOK, "inbox.html", p)
}
