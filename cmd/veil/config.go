package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/veilproxy/veil/detectors"
	"github.com/veilproxy/veil/forms"
	"github.com/veilproxy/veil/forms/agent"
	"github.com/veilproxy/veil/proxy"
	"github.com/veilproxy/veil/vault"
)

// fileConfig is the whole config file. Each package owns its section and
// validates it; this type only composes them.
type fileConfig struct {
	Listen      string           `yaml:"listen"`
	AdminListen string           `yaml:"admin_listen"`
	TLS         tlsConfig        `yaml:"tls"`
	Upstream    string           `yaml:"upstream"`
	DataDir     string           `yaml:"data_dir"`
	PublicURL   string           `yaml:"public_url"`
	Routes      []proxy.Route    `yaml:"routes"`
	Limits      proxy.Limits     `yaml:"limits"`
	Detectors   detectors.Config `yaml:"detectors"`
	Vault       vault.Config     `yaml:"vault"`
	Forms       []forms.FormSpec `yaml:"forms"`
	Agents      agent.Config     `yaml:"agents"`
	Log         logConfig        `yaml:"log"`

	// path is the file the config was read from, for error messages and
	// for resolving relative paths.
	path string
}

// tlsConfig is the tls: section.
type tlsConfig struct {
	Mode    string   `yaml:"mode"` // acme | files | off
	Domains []string `yaml:"domains"`
	Email   string   `yaml:"email"`
	// CA is the ACME directory URL; empty means the default public CA.
	CA string `yaml:"ca"`
	// CARoot is a PEM file of roots to trust for the ACME server itself
	// (a private CA).
	CARoot string `yaml:"ca_root"`
	// HTTPListen serves HTTP-01 challenges and redirects to HTTPS.
	HTTPListen string `yaml:"http_listen"`
	// OnDemand issues certificates at handshake time, only for names in
	// OnDemandAllow.
	OnDemandAllow []string `yaml:"on_demand_allow"`
	Cert          string   `yaml:"cert"`
	Key           string   `yaml:"key"`
}

// logConfig is the log: section.
type logConfig struct {
	Format string `yaml:"format"` // json | text; default json
	Level  string `yaml:"level"`  // debug | info | warn | error
}

// loadConfig reads, strictly decodes and validates a config file.
func loadConfig(path string) (*fileConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return parseConfig(path, data)
}

// parseConfig decodes data strictly (unknown keys are errors), records where
// each rule, route and form was written, and validates every section,
// reporting all problems at once, each with file:line.
func parseConfig(name string, data []byte) (*fileConfig, error) {
	display := filepath.Base(name)
	cfg := &fileConfig{path: name}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(display, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(display, err)
	}
	if len(root.Content) > 0 {
		doc := root.Content[0]
		for i, n := range seqItems(mapValue(doc, "routes")) {
			if i < len(cfg.Routes) {
				cfg.Routes[i].Pos = posOf(display, n)
			}
		}
		if n := mapValue(doc, "detectors"); n != nil {
			cfg.Detectors.Pos = posOf(display, n)
		}
		for i, n := range seqItems(mapValue(mapValue(doc, "detectors"), "rules")) {
			if i < len(cfg.Detectors.Rules) {
				cfg.Detectors.Rules[i].Pos = posOf(display, n)
			}
		}
		for i, n := range seqItems(mapValue(doc, "forms")) {
			if i >= len(cfg.Forms) {
				break
			}
			cfg.Forms[i].Pos = posOf(display, n)
			for j, f := range seqItems(mapValue(n, "fields")) {
				if j < len(cfg.Forms[i].Fields) {
					cfg.Forms[i].Fields[j].Pos = posOf(display, f)
				}
			}
		}
	}
	if err := cfg.validate(display); err != nil {
		return nil, err
	}
	return cfg, nil
}

// validate runs every section's own validation and joins the problems.
func (c *fileConfig) validate(display string) error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, fmt.Errorf("%s: data_dir: required", display))
	}
	switch c.TLS.Mode {
	case "", "off", "files", "acme":
	default:
		errs = append(errs, fmt.Errorf("%s: tls.mode: %q is not acme, files or off", display, c.TLS.Mode))
	}
	if err := (proxy.Config{Upstream: c.Upstream, Routes: c.Routes, Limits: c.Limits}).Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Detectors.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Vault.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := forms.ValidateSpecs(c.Forms); err != nil {
		errs = append(errs, err)
	}
	if err := c.Agents.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// yamlLine and yamlUnknownField read yaml.v3's messages. They are compiled
// on first use, when a config has a problem, not at every start-up.
var (
	yamlLine         = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^line (\d+): (.*)$`) })
	yamlUnknownField = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^field (\S+) not found in type (\S+)$`) })
)

// yamlError turns yaml.v3's errors into one "file:line: message" per problem.
func yamlError(display string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLine().FindStringSubmatch(msg); m != nil {
			return fmt.Errorf("%s:%s: %s", display, m[1], m[2])
		}
		return fmt.Errorf("%s: %s", display, msg)
	}
	errs := make([]error, 0, len(te.Errors))
	for _, e := range te.Errors {
		m := yamlLine().FindStringSubmatch(e)
		if m == nil {
			errs = append(errs, fmt.Errorf("%s: %s", display, e))
			continue
		}
		msg := m[2]
		if u := yamlUnknownField().FindStringSubmatch(msg); u != nil {
			msg = fmt.Sprintf("unknown key %q", u[1])
		}
		errs = append(errs, fmt.Errorf("%s:%s: %s", display, m[1], msg))
	}
	return errors.Join(errs...)
}

// mapValue returns the value node of key in a mapping node, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func seqItems(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

// posOf records the line of a mapping node and of each key in it.
func posOf(file string, n *yaml.Node) detectors.Pos {
	p := detectors.Pos{File: file, Line: n.Line, Keys: map[string]int{}}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			p.Keys[n.Content[i].Value] = n.Content[i].Line
		}
	}
	return p
}
