package detectors

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestLazyRegexpAsCompiled holds an embedded-style rule, whose Go regexps
// are compiled on first use, to what compiling its pattern at once with
// regexp gives: the same error, the same value group, the same matches.
func TestLazyRegexpAsCompiled(t *testing.T) {
	cases := []struct{ pattern, group string }{
		{`a(?P<v>b)c`, ""},
		{`(a)(?P<v>b)`, ""},
		{`(a)(b)`, ""},
		{`(a)(b)`, "2"},
		{`(a)(b)`, "0"},
		{`(a)(b)`, "3"},
		{`(a)(b)`, "-1"},
		{`(a)(?P<x>b)`, "x"},
		{`(a)(?P<x>b)`, "y"},
		{`(?P<v>a)|(?P<w>b)`, "w"},
		{`(a`, ""},
		{`a{2,1001}`, ""},
		{`(?<v>\d+)`, ""},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%s", c.pattern, c.group), func(t *testing.T) {
			r, errs := compileRule(RuleSpec{ID: "t", Type: "t", Pattern: c.pattern, Group: c.group}, 0, false, defaultTimeout)
			re, err := regexp.Compile(c.pattern)
			if err != nil {
				want := "pattern: " + strings.TrimPrefix(err.Error(), "error parsing regexp: ")
				if len(errs) != 1 || !strings.HasSuffix(errs[0].Error(), want) {
					t.Fatalf("errors %v, want one ending %q", errs, want)
				}
				return
			}
			group, groupErr := 0, false
			if c.group == "" {
				if n := re.SubexpIndex("v"); n > 0 {
					group = n
				}
			} else {
				n, err := strconv.Atoi(c.group)
				if err != nil {
					n = re.SubexpIndex(c.group)
				}
				groupErr = n < 0 || n > re.NumSubexp()
				group = n
			}
			gotErr := slices.ContainsFunc(errs, func(e error) bool { return strings.Contains(e.Error(), "group:") })
			if r.group != group || gotErr != groupErr {
				t.Fatalf("group %d (error %v), regexp gives %d (error %v)", r.group, gotErr, group, groupErr)
			}
			if groupErr {
				return
			}
			for _, text := range []string{"", "ab", "xxabc", "b", "12 34"} {
				if got, want := r.re2.FindSubmatchIndex([]byte(text)), re.FindSubmatchIndex([]byte(text)); !slices.Equal(got, want) {
					t.Errorf("%q: %v, regexp gives %v", text, got, want)
				}
			}
		})
	}
}

// TestDefaultRegexpsCompile compiles every embedded rule's Go regexps,
// which scanning would otherwise do only where a rule runs.
func TestDefaultRegexpsCompile(t *testing.T) {
	e := mustCompile(t, Config{})
	for _, r := range e.all {
		for _, l := range []*lazyRegexp{r.re2, r.anchored} {
			if l == nil {
				continue
			}
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Errorf("rule %s: %v", r.ID, p)
					}
				}()
				l.FindSubmatchIndex(nil)
			}()
		}
	}
}
