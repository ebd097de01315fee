package forms

import (
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/veilproxy/veil/forms/agent"
)

// fillPage is the data of fill.html.
type fillPage struct {
	Title       string
	Form        FormSpec
	Action      string
	CSRFField   string
	CSRF        string
	Fields      []fieldView
	Errors      []fieldView // the fields in error, for the summary
	Problem     string      // a form-level problem (expired page, unreadable post)
	ClearedNote bool        // sensitive fields were emptied after an error
	Expires     string
}

// fieldView is one input on the fill page. Value is only ever set for a
// field the config marks as not sensitive.
type fieldView struct {
	ID, Name, Label, Help, Type, Mode, Autocomplete string
	Value, Error                                    string
	Sensitive                                       bool
}

// views returns the inputs of spec with errs (by field name) attached and
// the values of non-sensitive fields kept.
func views(spec FormSpec, values map[string]string, errs map[string]string) []fieldView {
	out := make([]fieldView, 0, len(spec.Fields))
	for _, f := range spec.Fields {
		v := fieldView{
			ID: "f-" + f.Name, Name: f.Name, Label: f.Label, Help: f.Help,
			Type: f.Input, Autocomplete: f.Autocomplete, Error: errs[f.Name],
			Sensitive: f.IsSensitive(),
		}
		if v.Type == "" {
			v.Type = "text"
		}
		if v.Type == "number" {
			// type=number mangles long digit strings and leading zeros;
			// a text input with a numeric keyboard does not.
			v.Type, v.Mode = "text", "numeric"
		}
		if strings.Contains(f.Validate, "numeric") || strings.Contains(f.Validate, "card") || strings.Contains(f.Validate, "luhn") {
			v.Mode = "numeric"
		}
		if !v.Sensitive {
			v.Value = values[f.Name]
		}
		out = append(out, v)
	}
	return out
}

// fillGet serves GET /veil/f/{token}: the form, or the "no longer
// available" page. It consumes nothing.
func (s *Server) fillGet(w http.ResponseWriter, r *http.Request) {
	spec, expires, ok := s.pending(r)
	if !ok {
		s.gone(w)
		return
	}
	s.renderFill(w, r, http.StatusOK, spec, expires, nil, nil, "")
}

// pending looks up the waiting form of the request's fill token.
func (s *Server) pending(r *http.Request) (FormSpec, string, bool) {
	meta, err := s.vault.PendingInfo(r.Context(), r.PathValue("token"))
	if err != nil {
		if !isGone(err) {
			s.log.ErrorContext(r.Context(), "looking up form link failed", "err", err)
		}
		return FormSpec{}, "", false
	}
	if meta.State != "" && meta.State != "waiting" {
		return FormSpec{}, "", false
	}
	if !meta.ExpiresAt.IsZero() && !s.now().Before(meta.ExpiresAt) {
		return FormSpec{}, "", false
	}
	spec, ok := s.forms[meta.Type]
	if !ok {
		s.log.WarnContext(r.Context(), "form link names a form the config no longer has", "form", meta.Type, "record", meta.RecordID)
		return FormSpec{}, "", false
	}
	return spec, fmtTime(meta.ExpiresAt), true
}

func (s *Server) renderFill(w http.ResponseWriter, r *http.Request, status int, spec FormSpec, expires string, values, errs map[string]string, problem string) {
	p := fillPage{
		Title:     spec.Title,
		Form:      spec,
		Action:    r.URL.Path,
		CSRFField: agent.CSRFField,
		CSRF:      s.auth.CSRFToken(r),
		Fields:    views(spec, values, errs),
		Problem:   problem,
		Expires:   expires,
	}
	for _, f := range p.Fields {
		if f.Error != "" {
			p.Errors = append(p.Errors, f)
		}
		if f.Sensitive && (len(errs) > 0 || problem != "") {
			p.ClearedNote = true
		}
	}
	if len(p.Errors) > 0 {
		p.Title = "Error: " + p.Title
	}
	s.render(w, status, "fill.html", p)
}

// fillPost serves POST /veil/f/{token}: checks the CSRF token and every
// field, seals the submission into the vault and consumes the link.
func (s *Server) fillPost(w http.ResponseWriter, r *http.Request) {
	spec, expires, ok := s.pending(r)
	if !ok {
		s.gone(w)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderFill(w, r, http.StatusBadRequest, spec, expires, nil, nil, "The form could not be read. Please fill it in again.")
		return
	}
	if err := s.auth.CheckCSRF(r); err != nil {
		s.renderFill(w, r, http.StatusForbidden, spec, expires, nil, nil, "This page had expired. Please fill in the form again.")
		return
	}
	values, errs := s.check(spec, r.PostForm)
	if len(errs) > 0 {
		s.renderFill(w, r, http.StatusUnprocessableEntity, spec, expires, values, errs, "")
		return
	}
	body, err := json.Marshal(values)
	if err != nil {
		s.problem(w, http.StatusInternalServerError, "Something went wrong", "Your details could not be saved. Please try again.")
		return
	}
	err = s.vault.Submit(r.Context(), r.PathValue("token"), body, spec.oneTime(), s.clientIP(r))
	clear(body)
	switch {
	case isGone(err):
		s.gone(w)
		return
	case err != nil:
		s.log.ErrorContext(r.Context(), "sealing form submission failed", "form", spec.Name, "err", err)
		s.problem(w, http.StatusServiceUnavailable, "Something went wrong", "Your details could not be saved, and nothing was kept. Please try again in a minute.")
		return
	}
	s.log.InfoContext(r.Context(), "form submitted", "form", spec.Name)
	s.render(w, http.StatusOK, "done.html", struct {
		Title string
		Form  FormSpec
	}{"Thank you", spec})
}

// check validates the submitted values of spec's fields. It returns the
// trimmed values and a message per field in error; the messages never
// include a value.
func (s *Server) check(spec FormSpec, form map[string][]string) (map[string]string, map[string]string) {
	values := make(map[string]string, len(spec.Fields))
	errs := map[string]string{}
	for _, f := range spec.Fields {
		var v string
		if vs := form[f.Name]; len(vs) > 0 {
			v = strings.TrimSpace(vs[0])
		}
		switch {
		case len(v) > maxFieldBytes:
			errs[f.Name] = fieldMessage(f, "toolong")
			v = ""
		case !utf8.ValidString(v):
			errs[f.Name] = fieldMessage(f, "invalid")
			v = ""
		default:
			if tag := checkField(s.validate, f.Validate, v); tag != "" {
				errs[f.Name] = fieldMessage(f, tag)
			}
		}
		values[f.Name] = v
	}
	return values, errs
}
