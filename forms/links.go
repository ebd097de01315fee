package forms

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/veilproxy/veil/forms/agent"
	"github.com/veilproxy/veil/vault"
)

// maxBookEntries bounds the links kept in memory; the oldest expiring go
// first when it is reached.
const maxBookEntries = 10000

// linkBook keeps the links this process minted, by record id, so the agent
// inbox can offer them. The database holds only hashes of link tokens, so
// links minted by another process, or before a restart, cannot be shown.
type linkBook struct {
	mu      sync.Mutex
	records map[string]bookEntry
}

// bookEntry holds a record's link paths: the inbox puts them under the
// public URL of the server showing them, which a reload may change.
type bookEntry struct {
	fill, reveal string
	expires      time.Time
}

func newLinkBook() *linkBook { return &linkBook{records: map[string]bookEntry{}} }

func (b *linkBook) add(recordID string, e bookEntry, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.records) >= maxBookEntries {
		for id, old := range b.records {
			if !old.expires.After(now) {
				delete(b.records, id)
			}
		}
	}
	if len(b.records) >= maxBookEntries {
		var oldest string
		for id, old := range b.records {
			if oldest == "" || old.expires.Before(b.records[oldest].expires) {
				oldest = id
			}
		}
		delete(b.records, oldest)
	}
	b.records[recordID] = e
}

func (b *linkBook) get(recordID string) (bookEntry, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.records[recordID]
	return e, ok
}

// mintResult is the link API's answer.
type mintResult struct {
	FillURL   string    `json:"fill_url"`
	RevealURL string    `json:"reveal_url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// errUnknownForm is returned for a form name the config does not declare.
var errUnknownForm = errors.New("unknown form")

// mint creates a pending form in the vault and records its links.
func (s *Server) mint(ctx context.Context, name, actor string) (mintResult, error) {
	spec, ok := s.forms[name]
	if !ok {
		return mintResult{}, errUnknownForm
	}
	fl, err := s.vault.CreatePending(ctx, vault.PendingForm{
		Form:        spec.Name,
		Preview:     spec.Title,
		TTL:         spec.TTL,
		PurgeOnView: spec.purgeOnView(),
		Actor:       actor,
	})
	if err != nil {
		return mintResult{}, fmt.Errorf("creating form link: %w", err)
	}
	res := mintResult{
		FillURL:   s.url(fillPath + fl.FillToken),
		RevealURL: s.url(revealPath + fl.RevealToken),
		ExpiresAt: fl.ExpiresAt.UTC(),
	}
	s.links.add(fl.RecordID, bookEntry{fill: fillPath + fl.FillToken, reveal: revealPath + fl.RevealToken, expires: fl.ExpiresAt}, s.now())
	s.log.InfoContext(ctx, "form link created", "form", spec.Name, "record", fl.RecordID, "actor", actor)
	return res, nil
}

// SecureCommand answers a "/secure NAME" chat message: the form's
// invitation with a fresh fill link in place of "{link}" (or after the
// text). The reveal link goes to the agent inbox of this process. ok is
// false for a form the config does not declare.
func (s *Server) SecureCommand(ctx context.Context, form string) (string, bool, error) {
	res, err := s.mint(ctx, form, "chat")
	if errors.Is(err, errUnknownForm) {
		return "", false, nil
	}
	if err != nil {
		return "", true, err
	}
	inv := s.forms[form].Invitation
	switch {
	case strings.Contains(inv, "{link}"):
		return strings.ReplaceAll(inv, "{link}", res.FillURL), true, nil
	case strings.TrimSpace(inv) == "":
		return "Please use this secure form: " + res.FillURL, true, nil
	}
	return strings.TrimRight(inv, " ") + " " + res.FillURL, true, nil
}

// mintLink serves POST /veil/api/forms/{name}/links. API clients get 201
// and the links as JSON; the inbox's "new link" buttons (a session, a form
// post with a CSRF token) are sent back to the inbox.
func (s *Server) mintLink(w http.ResponseWriter, r *http.Request) {
	id, _ := agent.FromContext(r.Context())
	api := agent.WantsJSON(r)
	if !s.csrfOK(w, r, id, api, "Go back to the inbox and try again.") {
		return
	}
	res, err := s.mint(r.Context(), r.PathValue("name"), id.Name)
	switch {
	case errors.Is(err, errUnknownForm):
		if api {
			writeJSON(w, http.StatusNotFound, apiError{"unknown form"})
		} else {
			s.problem(w, http.StatusNotFound, "Unknown form", "There is no form with that name.")
		}
		return
	case err != nil:
		s.log.ErrorContext(r.Context(), "creating form link failed", "err", err)
		if api {
			writeJSON(w, http.StatusInternalServerError, apiError{"could not create the link"})
		} else {
			s.problem(w, http.StatusInternalServerError, "Something went wrong", "The link could not be created. Please try again.")
		}
		return
	}
	if !api {
		http.Redirect(w, r, inboxPath, http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}
