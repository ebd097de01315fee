package web

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// TestTemplatesParse checks every page template parses and defines a
// template named after its file.
func TestTemplatesParse(t *testing.T) {
	tmpl, err := Templates()
	if err != nil {
		t.Fatalf("Templates: %v", err)
	}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil || len(names) == 0 {
		t.Fatalf("no templates: %v", err)
	}
	for _, n := range names {
		base := strings.TrimPrefix(n, "templates/")
		if base == "layout.html" {
			for _, part := range []string{"top", "bottom"} {
				if tmpl.Lookup(part) == nil {
					t.Errorf("layout.html does not define %q", part)
				}
			}
			continue
		}
		if tmpl.Lookup(base) == nil {
			t.Errorf("%s does not define a template named %q", n, base)
		}
	}
}

var (
	inlineScript  = regexp.MustCompile(`(?i)<script\b[^>]*>\s*[^<\s]`)
	inlineStyle   = regexp.MustCompile(`(?i)<style\b|\sstyle\s*=`)
	inlineHandler = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	jsURL         = regexp.MustCompile(`(?i)javascript:`)
)

// TestTemplatesNoInlineCode checks no template carries inline script,
// style or event handlers, which the content security policy would block.
func TestTemplatesNoInlineCode(t *testing.T) {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		b, err := fs.ReadFile(templateFiles, n)
		if err != nil {
			t.Fatal(err)
		}
		for what, re := range map[string]*regexp.Regexp{"inline script": inlineScript, "inline style": inlineStyle, "event handler": inlineHandler, "javascript: URL": jsURL} {
			if loc := re.FindIndex(b); loc != nil {
				t.Errorf("%s: %s at byte %d", n, what, loc[0])
			}
		}
	}
}

// TestStatic checks the stylesheet every page links is embedded.
func TestStatic(t *testing.T) {
	b, err := fs.ReadFile(Static(), "veil.css")
	if err != nil {
		t.Fatalf("veil.css: %v", err)
	}
	if len(b) == 0 {
		t.Fatal("veil.css is empty")
	}
}
