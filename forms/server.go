package forms

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-playground/validator/v10"

	"github.com/veilproxy/veil/forms/agent"
	"github.com/veilproxy/veil/vault"
	"github.com/veilproxy/veil/web"
)

// Options configure a Server.
type Options struct {
	Vault *vault.Vault // required
	Auth  *agent.Auth  // required: agent pages, the reveal and the link API
	// PublicURL is the base of every link Veil hands out
	// ("https://chat.example.com"). Empty: links are paths ("/veil/r/…").
	PublicURL string
	Logger    *slog.Logger     // nil: discard
	Now       func() time.Time // nil: time.Now
	// LinkTemplate is the text that replaces a diverted value in a message.
	// Placeholders: {preview} ("card ending 1111"), {type} ("card"),
	// {url} (the reveal link), {expires} (RFC 3339, UTC). It must contain
	// {url}. Empty: "[{preview} · {url}]".
	LinkTemplate string
	// Previous is the server this one replaces when the config reloads:
	// the links its agent inbox lists (kept in memory only) carry over.
	Previous *Server
}

// DefaultLinkTemplate is the replacement text of a diverted value when
// Options.LinkTemplate is empty.
const DefaultLinkTemplate = "[{preview} · {url}]"

// Paths of the pages and API a Server serves.
const (
	fillPath   = "/veil/f/"
	revealPath = "/veil/r/"
	inboxPath  = "/veil/agent"
	staticPath = "/veil/static/"
)

// maxFormBytes bounds a fill-page POST; maxFieldBytes bounds one value.
const (
	maxFormBytes  = 64 << 10
	maxFieldBytes = 512
	inboxLimit    = 200
)

// Server serves secure forms, the reveal page, the agent inbox and the link
// API, and diverts captured values into the vault. It is safe for
// concurrent use.
type Server struct {
	forms    map[string]FormSpec
	order    []string
	vault    *vault.Vault
	auth     *agent.Auth
	public   string
	tls      bool
	log      *slog.Logger
	now      func() time.Time
	linkText string
	tmpl     *template.Template
	validate *validator.Validate
	links    *linkBook
	static   fs.FS
}

// New checks specs (DefaultForms when specs is empty) and options and
// returns a Server.
func New(specs []FormSpec, opts Options) (*Server, error) {
	if len(specs) == 0 {
		specs = DefaultForms()
	}
	if err := ValidateSpecs(specs); err != nil {
		return nil, fmt.Errorf("forms: %w", err)
	}
	if opts.Vault == nil || opts.Auth == nil {
		return nil, errors.New("forms: a vault and agent auth are required")
	}
	s := &Server{
		forms:    make(map[string]FormSpec, len(specs)),
		vault:    opts.Vault,
		auth:     opts.Auth,
		log:      opts.Logger,
		now:      opts.Now,
		linkText: opts.LinkTemplate,
		links:    newLinkBook(),
		static:   web.Static(),
	}
	if opts.Previous != nil {
		s.links = opts.Previous.links
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.linkText == "" {
		s.linkText = DefaultLinkTemplate
	}
	if !strings.Contains(s.linkText, "{url}") {
		return nil, errors.New("forms: link template must contain {url}")
	}
	if opts.PublicURL != "" {
		u, err := url.Parse(opts.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("forms: public url %q: want an absolute http(s) URL", opts.PublicURL)
		}
		s.public = strings.TrimSuffix(u.String(), "/")
		s.tls = u.Scheme == "https"
	}
	for _, sp := range specs {
		s.forms[sp.Name] = sp
		s.order = append(s.order, sp.Name)
	}
	tmpl, err := web.Templates()
	if err != nil {
		return nil, fmt.Errorf("forms: parsing templates: %w", err)
	}
	for _, name := range []string{"fill.html", "done.html", "gone.html", "reveal.html", "revealed.html", "inbox.html", "problem.html"} {
		if tmpl.Lookup(name) == nil {
			return nil, fmt.Errorf("forms: template %s is missing", name)
		}
	}
	s.tmpl = tmpl
	s.validate = newValidator(s.now)
	return s, nil
}

// Routes registers the fill and reveal pages, the agent inbox, the link API
// and the static assets on mux, each behind the security headers. The
// agent's login routes are registered by agent.Auth.Routes.
func (s *Server) Routes(mux *http.ServeMux) {
	h := func(pattern string, fn http.HandlerFunc) {
		mux.Handle(pattern, agent.SecurityHeaders(fn, s.tls))
	}
	ag := func(pattern string, fn http.HandlerFunc) {
		mux.Handle(pattern, agent.SecurityHeaders(s.auth.RequireAgent(fn), s.tls))
	}
	h("GET /veil/f/{token}", s.auth.WithCSRFCookie(http.HandlerFunc(s.fillGet)).ServeHTTP)
	h("POST /veil/f/{token}", s.auth.WithCSRFCookie(http.HandlerFunc(s.fillPost)).ServeHTTP)
	ag("GET /veil/r/{token}", s.revealGet)
	ag("POST /veil/r/{token}", s.revealPost)
	ag("GET /veil/agent", s.inbox)
	ag("POST /veil/api/forms/{name}/links", s.mintLink)
	mux.Handle("GET "+staticPath, agent.SecurityHeaders(http.StripPrefix(staticPath, http.FileServerFS(s.static)), s.tls))
}

// url returns the public URL of path.
func (s *Server) url(path string) string { return s.public + path }

// render executes a page template into a buffer and writes it with status,
// so a template error never leaves half a page.
func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error("rendering page", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// goneStatus is the status of every link that cannot be used: unknown,
// consumed and expired alike, so a page tells nothing about which.
const goneStatus = http.StatusNotFound

// page is the data every template gets.
type page struct {
	Title string
}

// gone writes the one "this link is no longer available" page.
func (s *Server) gone(w http.ResponseWriter) {
	s.render(w, goneStatus, "gone.html", page{Title: "Link not available"})
}

// problem writes a page for a failure the visitor or agent can retry.
func (s *Server) problem(w http.ResponseWriter, status int, title, msg string) {
	s.render(w, status, "problem.html", struct {
		Title, Message string
	}{title, msg})
}

// isGone reports whether err is one of the vault's "this link cannot be
// used" errors.
func isGone(err error) bool {
	return errors.Is(err, vault.ErrNotFound) || errors.Is(err, vault.ErrConsumed) || errors.Is(err, vault.ErrExpired)
}

// clientIP is the client address of r for the audit trail, as agent
// access sees it (trusted proxies honoured).
func (s *Server) clientIP(r *http.Request) string { return s.auth.ClientIP(r) }

// csrfOK checks the CSRF token of an agent's state-changing request and
// answers 403 when it fails; retry tells a person what to do next. API
// clients on a bearer token carry no cookie to forge and need none.
func (s *Server) csrfOK(w http.ResponseWriter, r *http.Request, id agent.Identity, api bool, retry string) bool {
	if id.Method == "token" {
		return true
	}
	if err := s.auth.CheckCSRF(r); err != nil {
		if api {
			writeJSON(w, http.StatusForbidden, apiError{"invalid csrf token"})
		} else {
			s.problem(w, http.StatusForbidden, "Please try again", "This page had expired. "+retry)
		}
		return false
	}
	return true
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// apiError is the JSON body of an API error.
type apiError struct {
	Error string `json:"error"`
}

// fmtTime formats t for pages.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
