package web

import (
	"embed"
	"html/template"
	"io/fs"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Templates parses every page template. Each file defines one template named
// after the file ("fill.html") that wraps its content in the shared layout:
//
//	{{define "fill.html"}}{{template "top" .}} ... {{template "bottom" .}}{{end}}
//
// The data passed to any page must have a Title field.
func Templates() (*template.Template, error) {
	return template.New("").ParseFS(templateFiles, "templates/*.html")
}

// Static returns the static assets (CSS, scripts) served under /veil/static/.
// Pages load scripts only from here: the content security policy forbids
// inline script.
func Static() fs.FS {
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}
