package proxy

import (
	"fmt"
	"strconv"
	"strings"
)

// jsonPath is a compiled JSON path such as $.choices[*].delta.content or
// $['odd key'][0]. It matches the paths rewriteJSON hands to its visitor.
// The zero jsonPath is "$", the document root.
type jsonPath struct {
	segs []pathSeg
	src  string // as written, for messages
}

// pathSeg is one step: a key, an array index, or any element or key.
type pathSeg struct {
	key      string // object key or decimal index, as it appears in "at"
	wildcard bool
}

// parseJSONPath compiles a path. It accepts $ (the root), .key, ['key'] or
// ["key"] (any key, quotes escaped with a backslash), [N] (an array index)
// and [*] or .* (every element or key). The leading $ may be omitted.
func parseJSONPath(s string) (jsonPath, error) {
	p := jsonPath{src: s}
	i := 0
	switch {
	case s == "":
		return p, fmt.Errorf("json path: empty")
	case s[0] == '$':
		i = 1
	case s[0] != '.' && s[0] != '[':
		s = "." + s
	}
	for i < len(s) {
		switch s[i] {
		case '.':
			i++
			j := i
			for j < len(s) && s[j] != '.' && s[j] != '[' {
				j++
			}
			name := s[i:j]
			switch {
			case name == "":
				return jsonPath{}, fmt.Errorf("json path %q: empty key at offset %d", s, i)
			case name == "*":
				p.segs = append(p.segs, pathSeg{wildcard: true})
			default:
				if k := strings.IndexAny(name, "]'\"$ "); k >= 0 {
					return jsonPath{}, fmt.Errorf("json path %q: unexpected %q at offset %d", s, name[k], i+k)
				}
				p.segs = append(p.segs, pathSeg{key: name})
			}
			i = j
		case '[':
			i++
			if i >= len(s) {
				return jsonPath{}, fmt.Errorf("json path %q: unterminated bracket", s)
			}
			switch c := s[i]; {
			case c == '*':
				if i+1 >= len(s) || s[i+1] != ']' {
					return jsonPath{}, fmt.Errorf("json path %q: expected ] at offset %d", s, i+1)
				}
				p.segs = append(p.segs, pathSeg{wildcard: true})
				i += 2
			case c == '\'' || c == '"':
				var key strings.Builder
				j := i + 1
				closed := false
				for j < len(s) {
					if s[j] == '\\' && j+1 < len(s) {
						key.WriteByte(s[j+1])
						j += 2
						continue
					}
					if s[j] == c {
						closed = true
						break
					}
					key.WriteByte(s[j])
					j++
				}
				if !closed || j+1 >= len(s) || s[j+1] != ']' {
					return jsonPath{}, fmt.Errorf("json path %q: unterminated quoted key at offset %d", s, i)
				}
				p.segs = append(p.segs, pathSeg{key: key.String()})
				i = j + 2
			case c >= '0' && c <= '9':
				j := i
				for j < len(s) && s[j] >= '0' && s[j] <= '9' {
					j++
				}
				if j >= len(s) || s[j] != ']' {
					return jsonPath{}, fmt.Errorf("json path %q: expected ] at offset %d", s, j)
				}
				n, err := strconv.Atoi(s[i:j])
				if err != nil {
					return jsonPath{}, fmt.Errorf("json path %q: index at offset %d out of range", s, i)
				}
				p.segs = append(p.segs, pathSeg{key: strconv.Itoa(n)})
				i = j + 1
			default:
				return jsonPath{}, fmt.Errorf("json path %q: unexpected %q at offset %d", s, c, i)
			}
		default:
			return jsonPath{}, fmt.Errorf("json path %q: unexpected %q at offset %d (want . or [)", s, s[i], i)
		}
	}
	return p, nil
}

// String returns the path as written.
func (p jsonPath) String() string {
	if p.src == "" {
		return "$"
	}
	return p.src
}

// match reports whether at is exactly the path p.
func (p jsonPath) match(at []string) bool {
	return len(at) == len(p.segs) && p.covers(at)
}

// covers reports whether at is p or lies below it (p is a prefix of at), so
// skipping $.author also skips $.author.id.
func (p jsonPath) covers(at []string) bool {
	if len(at) < len(p.segs) {
		return false
	}
	for i, s := range p.segs {
		if !s.wildcard && s.key != at[i] {
			return false
		}
	}
	return true
}

// anyCovers reports whether one of paths covers at.
func anyCovers(paths []jsonPath, at []string) bool {
	for _, p := range paths {
		if p.covers(at) {
			return true
		}
	}
	return false
}
