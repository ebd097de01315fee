package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"

	"github.com/veilproxy/veil/detectors"
)

// cmdRules lists the rules in force or runs their samples:
//
//	veil rules list [--config FILE]
//	veil rules test [--config FILE]
func cmdRules(_ context.Context, args []string, std stdio) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "test") {
		fmt.Fprintln(std.Err, "usage: veil rules list|test [--config FILE]")
		return exitError
	}
	sub := args[0]
	fs := flag.NewFlagSet("rules "+sub, flag.ContinueOnError)
	fs.SetOutput(std.Err)
	configPath := fs.String("config", "", "config `file` whose detectors: section to use (default: the embedded defaults)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitClean
		}
		return exitError
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(std.Err, "veil rules %s: unexpected argument %q\n", sub, fs.Arg(0))
		return exitError
	}
	cfg := detectors.Config{}
	if *configPath != "" {
		data, err := os.ReadFile(*configPath)
		if err != nil {
			fmt.Fprintf(std.Err, "veil rules %s: reading config: %v\n", sub, err)
			return exitError
		}
		fc, err := parseConfig(*configPath, data)
		if err != nil && sub == "test" {
			// The config is refused when a sample fails; the failures
			// are still worth listing by rule, from the detectors:
			// section alone.
			return rulesTestSection(*configPath, data, err, std)
		}
		if err != nil {
			fmt.Fprintf(std.Err, "veil rules %s: %v\n", sub, err)
			return exitError
		}
		cfg = fc.Detectors
	}
	if sub == "list" {
		return rulesList(cfg, std)
	}
	return rulesTest(cfg, std)
}

// rulesTestSection runs the samples of the detectors: section of a config
// file that parseConfig refused with loadErr. When no sample fails, loadErr
// was about something else and is reported.
func rulesTestSection(path string, data []byte, loadErr error, std stdio) int {
	cfg, err := detectorsSection(path, data)
	if err == nil {
		var failures []detectors.SampleFailure
		failures, err = detectors.TestRules(cfg)
		if err == nil && len(failures) > 0 {
			return printSampleFailures(failures, std)
		}
	}
	fmt.Fprintf(std.Err, "veil rules test: %v\n", loadErr)
	return exitError
}

// detectorsSection decodes only the detectors: section of a config file,
// with the position of each rule, as parseConfig does.
func detectorsSection(path string, data []byte) (detectors.Config, error) {
	var doc struct {
		Detectors detectors.Config `yaml:"detectors"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return detectors.Config{}, fmt.Errorf("decoding config: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return detectors.Config{}, fmt.Errorf("decoding config: %w", err)
	}
	if len(root.Content) > 0 {
		for i, n := range seqItems(mapValue(mapValue(root.Content[0], "detectors"), "rules")) {
			if i < len(doc.Detectors.Rules) {
				doc.Detectors.Rules[i].Pos = posOf(filepath.Base(path), n)
			}
		}
	}
	return doc.Detectors, nil
}

// rulesList prints one row per rule in force: id, type, action and where
// the rule comes from ("default" or the config file).
func rulesList(cfg detectors.Config, std stdio) int {
	eng, err := detectors.Compile(cfg)
	if err != nil {
		fmt.Fprintf(std.Err, "veil rules list: compiling rules: %v\n", err)
		return exitError
	}
	tw := tabwriter.NewWriter(std.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tACTION\tSOURCE")
	for _, r := range eng.Rules() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, r.Type, r.Action, r.Source)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(std.Err, "veil rules list: writing output: %v\n", err)
		return exitError
	}
	return exitClean
}

// rulesTest runs every rule's match and no_match samples and prints the
// failures grouped by rule id. It exits 1 when any sample fails.
func rulesTest(cfg detectors.Config, std stdio) int {
	failures, err := detectors.TestRules(cfg)
	if err != nil {
		fmt.Fprintf(std.Err, "veil rules test: %v\n", err)
		return exitError
	}
	if len(failures) == 0 {
		n := 0
		if eng, err := detectors.Compile(cfg); err == nil {
			n = len(eng.Rules())
		}
		fmt.Fprintf(std.Out, "ok: every sample of %d rules passes\n", n)
		return exitClean
	}
	return printSampleFailures(failures, std)
}

// printSampleFailures prints failing samples grouped by rule id, in the
// order the rules come, and returns exit status 1.
func printSampleFailures(failures []detectors.SampleFailure, std stdio) int {
	var order []string
	byRule := map[string][]detectors.SampleFailure{}
	for _, f := range failures {
		if _, seen := byRule[f.Rule]; !seen {
			order = append(order, f.Rule)
		}
		byRule[f.Rule] = append(byRule[f.Rule], f)
	}
	for _, id := range order {
		fmt.Fprintf(std.Out, "FAIL %s\n", id)
		for _, f := range byRule[id] {
			fmt.Fprintf(std.Out, "  want %-8s %q\n", f.Want, f.Sample)
		}
	}
	fmt.Fprintf(std.Out, "%d failing samples in %d rules\n", len(failures), len(order))
	return exitFound
}
