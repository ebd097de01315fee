package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/veilproxy/veil/detectors"
)

// Exit codes of veil scan, as grep uses them.
const (
	exitClean = 0 // nothing found
	exitFound = 1 // something found
	exitError = 2 // an error; errors win over findings
)

// scanChunk is how much text mode reads at a time.
const scanChunk = 64 << 10

// cmdScan masks files or stdin with the configured rules:
//
//	veil scan [--config FILE] [--jsonl] [--no-values] [FILE...]
//
// Text mode streams each input through the engine and writes the masked
// text. JSON Lines mode reads {"id": ..., "text": "..."} objects and writes
// {"id", "masked", "findings"} objects, one per input line. Error messages
// name the input and line, never the scanned text.
func cmdScan(ctx context.Context, args []string, std stdio) int {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(std.Err)
	configPath := fs.String("config", "", "config `file` whose detectors: section to use (default: the embedded defaults)")
	jsonl := fs.Bool("jsonl", false, "read JSON Lines {\"id\", \"text\"} and write {\"id\", \"masked\", \"findings\"}")
	noValues := fs.Bool("no-values", false, "with --jsonl, leave the matched values out of the findings")
	fs.Usage = func() {
		fmt.Fprintln(std.Err, "usage: veil scan [--config FILE] [--jsonl] [--no-values] [FILE...]")
		fmt.Fprintln(std.Err, "Masks FILEs (or stdin) and writes the result to stdout.")
		fmt.Fprintln(std.Err, "Exit status: 0 nothing found, 1 something found, 2 error.")
		fs.PrintDefaults()
	}
	files, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitClean
	}
	if err != nil {
		return exitError
	}
	eng, err := scanEngine(*configPath)
	if err != nil {
		fmt.Fprintf(std.Err, "veil scan: %v\n", err)
		return exitError
	}
	if len(files) == 0 {
		files = []string{"-"}
	}

	out := bufio.NewWriterSize(std.Out, scanChunk)
	found, failed := false, false
	for _, name := range files {
		var f bool
		err := withInput(name, std.In, func(r io.Reader) error {
			var err error
			if *jsonl {
				f, err = scanJSONL(ctx, eng, r, out, !*noValues)
			} else {
				f, err = scanText(ctx, eng, r, out)
			}
			return err
		})
		found = found || f
		if err != nil {
			failed = true
			fmt.Fprintf(std.Err, "veil scan: %s: %v\n", displayName(name), err)
			var le *lineError
			if errors.As(err, &le) {
				break // the rest of a broken JSON Lines input is not trusted
			}
		}
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(std.Err, "veil scan: writing output: %v\n", err)
		return exitError
	}
	switch {
	case failed:
		return exitError
	case found:
		return exitFound
	}
	return exitClean
}

// parseInterspersed parses flags that may come before, between or after
// the file arguments ("veil scan a.txt --jsonl"). A "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return files, nil
		}
		// flag stops at the first non-flag, or after "--": in the second
		// case everything left is a file.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(files, rest...), nil
		}
		files = append(files, rest[0])
		args = rest[1:]
	}
}

// scanEngine compiles the embedded defaults, or the detectors: section of
// the config file at path.
func scanEngine(path string) (*detectors.Engine, error) {
	cfg := detectors.Config{}
	if path != "" {
		fc, err := loadConfig(path)
		if err != nil {
			return nil, err
		}
		cfg = fc.Detectors
	}
	eng, err := detectors.Compile(cfg)
	if err != nil {
		return nil, fmt.Errorf("compiling rules: %w", err)
	}
	return eng, nil
}

// withInput opens name ("-" is stdin) and hands it to fn.
func withInput(name string, stdin io.Reader, fn func(io.Reader) error) error {
	if name == "-" {
		return fn(stdin)
	}
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("opening input: %w", err)
	}
	defer f.Close()
	return fn(f)
}

func displayName(name string) string {
	if name == "-" {
		return "stdin"
	}
	return name
}

// scanText streams r through the engine and writes the masked text to w.
// It holds no more of r in memory than the engine's stream keeps back.
func scanText(ctx context.Context, eng *detectors.Engine, r io.Reader, w io.Writer) (found bool, err error) {
	st := eng.NewStream(detectors.RedactOptions{})
	buf := make([]byte, scanChunk)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			out, fs, err := st.Write(ctx, buf[:n])
			if err != nil {
				return found, fmt.Errorf("scanning: %w", err)
			}
			found = found || len(fs) > 0
			if _, err := w.Write(out); err != nil {
				return found, fmt.Errorf("writing output: %w", err)
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return found, fmt.Errorf("reading input: %w", rerr)
		}
		if err := ctx.Err(); err != nil {
			return found, err
		}
	}
	out, fs, err := st.Flush(ctx)
	if err != nil {
		return found, fmt.Errorf("scanning: %w", err)
	}
	found = found || len(fs) > 0
	if _, err := w.Write(out); err != nil {
		return found, fmt.Errorf("writing output: %w", err)
	}
	return found, nil
}

// jsonlInput is one line of --jsonl input.
type jsonlInput struct {
	ID   json.RawMessage `json:"id"`
	Text *string         `json:"text"`
}

// jsonlOutput is one line of --jsonl output.
type jsonlOutput struct {
	ID       json.RawMessage `json:"id"`
	Masked   string          `json:"masked"`
	Findings []jsonlFinding  `json:"findings"`
}

// jsonlFinding is a finding as veil scan --jsonl reports it. Start and End
// are byte offsets into the input text; Value is the exact substring.
type jsonlFinding struct {
	Type  string `json:"type"`
	Rule  string `json:"rule"`
	Start int    `json:"start"`
	End   int    `json:"end"`
	Value string `json:"value,omitempty"`
}

// lineError is a malformed line of JSON Lines input. Its message names the
// line and what is wrong, never the line's content.
type lineError struct {
	Line int
	Msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// scanJSONL reads JSON Lines from r and writes one result line per input
// line to w. Blank lines are skipped.
func scanJSONL(ctx context.Context, eng *detectors.Engine, r io.Reader, w io.Writer, values bool) (found bool, err error) {
	br := bufio.NewReaderSize(r, scanChunk)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for n := 1; ; n++ {
		line, rerr := br.ReadBytes('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return found, fmt.Errorf("reading input: %w", rerr)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			in, err := decodeJSONLine(line, n)
			if err != nil {
				return found, err
			}
			text := []byte(*in.Text)
			masked, fs, err := eng.Redact(ctx, text, detectors.RedactOptions{})
			if err != nil {
				return found, fmt.Errorf("line %d: scanning: %w", n, err)
			}
			found = found || len(fs) > 0
			res := jsonlOutput{ID: in.ID, Masked: string(masked), Findings: make([]jsonlFinding, 0, len(fs))}
			if len(res.ID) == 0 {
				res.ID = json.RawMessage("null")
			}
			for _, f := range fs {
				jf := jsonlFinding{Type: f.Type, Rule: f.Rule, Start: f.Start, End: f.End}
				if values {
					jf.Value = string(text[f.Start:f.End])
				}
				res.Findings = append(res.Findings, jf)
			}
			if err := enc.Encode(res); err != nil {
				return found, fmt.Errorf("writing output: %w", err)
			}
		}
		if rerr != nil {
			return found, nil
		}
		if err := ctx.Err(); err != nil {
			return found, err
		}
	}
}

// decodeJSONLine decodes one input object strictly enough to be sure what
// was meant: one JSON object with a string "text".
func decodeJSONLine(line []byte, n int) (jsonlInput, error) {
	var in jsonlInput
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&in); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return in, &lineError{n, fmt.Sprintf("invalid JSON at byte %d", se.Offset)}
		case errors.As(err, &te) && te.Field == "text":
			return in, &lineError{n, "\"text\" must be a string"}
		case errors.As(err, &te):
			return in, &lineError{n, "want a JSON object with \"id\" and \"text\""}
		}
		return in, &lineError{n, "invalid JSON"}
	}
	if len(bytes.TrimSpace(line[dec.InputOffset():])) > 0 {
		return in, &lineError{n, "more than one JSON value on the line"}
	}
	if in.Text == nil {
		return in, &lineError{n, "missing \"text\""}
	}
	return in, nil
}
