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
	"runtime"
	"runtime/debug"
	"slices"

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
	defer relaxGC()()
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

// relaxGC turns the collector's pacing off for a scan, keeping a memory
// limit, unless GOGC or GOMEMLIMIT say otherwise. A scan holds a few
// blocks at a time, so its heap stays small, and a collection every few
// megabytes stops the masking cores for little gain: on 8 MB of chat the
// default pacing made the whole run about a tenth slower. It returns the
// function that restores the settings it found.
func relaxGC() (restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	percent := debug.SetGCPercent(-1)
	limit := debug.SetMemoryLimit(scanMemoryLimit)
	return func() {
		debug.SetMemoryLimit(limit)
		debug.SetGCPercent(percent)
	}
}

// scanMemoryLimit is the heap size at which a scan collects garbage.
const scanMemoryLimit = 256 << 20

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

// Text mode cuts its input into blocks at places where the engine's
// result cannot depend on the other side (detectors.Engine.SafeCut) and
// masks one block per core at once (at least two, at most eight), writing
// them in order. Buffers are recycled: fresh memory costs a page fault per
// 4 KiB.
const (
	scanBlock   = 128 << 10 // where text mode looks for a cut
	scanAhead   = 24 << 10  // read this far past scanBlock before looking
	scanSlack   = 320 << 10 // at most this far: SafeCut looks up to 256 KiB further
	scanBufSize = scanBlock + scanSlack + scanChunk
)

// scanText masks r and writes the result to w, byte for byte what one
// stream over the whole input would write. It holds at most one block per
// core being masked and one being read; when no cut is found it falls
// back to one stream, which holds only what the engine keeps back.
func scanText(ctx context.Context, eng *detectors.Engine, r io.Reader, w io.Writer) (found bool, err error) {
	type result struct {
		in, out []byte
		found   bool
		err     error
	}
	parallel := max(2, min(runtime.GOMAXPROCS(0), 8))
	free := make([][]byte, 0, 2*parallel+2)
	getBuf := func() []byte {
		if n := len(free); n > 0 {
			b := free[n-1]
			free = free[:n-1]
			return b[:0]
		}
		return make([]byte, 0, scanBufSize)
	}
	var queue []chan result
	var failed error // after a failure nothing more is written
	// next writes the oldest block's result.
	next := func() error {
		res := <-queue[0]
		queue = queue[1:]
		found = found || res.found
		switch {
		case failed != nil:
		case res.err != nil:
			failed = fmt.Errorf("scanning: %w", res.err)
		default:
			if _, err := w.Write(res.out); err != nil {
				failed = fmt.Errorf("writing output: %w", err)
			}
		}
		if failed != nil {
			return failed
		}
		free = append(free, res.in, res.out)
		return nil
	}
	// wait writes every result still pending, keeping the first error.
	wait := func(err error) error {
		for len(queue) > 0 {
			if e := next(); err == nil {
				err = e
			}
		}
		return err
	}
	submit := func(block []byte) error {
		if len(queue) == parallel {
			if err := next(); err != nil {
				return err
			}
		}
		done := make(chan result, 1)
		queue = append(queue, done)
		out := getBuf()
		go func() {
			res := result{in: block}
			res.out, res.found, res.err = maskBlock(ctx, eng, block, out)
			done <- res
		}()
		return nil
	}

	buf := getBuf()
	for {
		// Read up to scanBlock+scanAhead, then on a chunk at a time while
		// no cut is found: only touched memory costs.
		want := scanBlock + scanAhead
		if len(buf) >= want {
			want = len(buf) + scanChunk
		}
		buf = slices.Grow(buf, want-len(buf))
		n, rerr := r.Read(buf[len(buf):want])
		buf = buf[:len(buf)+n]
		eof := errors.Is(rerr, io.EOF)
		if rerr != nil && !eof {
			return found, wait(fmt.Errorf("reading input: %w", rerr))
		}
		if err := ctx.Err(); err != nil {
			return found, wait(err)
		}
		if eof {
			if len(buf) > 0 {
				if err := submit(buf); err != nil {
					return found, wait(err)
				}
			}
			return found, wait(nil)
		}
		if len(buf) < scanBlock+scanAhead {
			continue
		}
		p := eng.SafeCut(buf, scanBlock)
		if p < 0 && len(buf) < scanBlock+scanSlack {
			continue // read on: a cut may still come
		}
		if p < 0 {
			// No place to cut: one stream from here on.
			if err := wait(nil); err != nil {
				return found, err
			}
			f, err := streamText(ctx, eng, buf, r, w)
			return found || f, err
		}
		rest := append(getBuf(), buf[p:]...)
		if err := submit(buf[:p]); err != nil {
			return found, wait(err)
		}
		buf = rest
	}
}

// maskBlock masks one block, appending to out.
func maskBlock(ctx context.Context, eng *detectors.Engine, block, out []byte) ([]byte, bool, error) {
	out, fs, err := eng.AppendRedact(ctx, out, block, detectors.RedactOptions{})
	return out, len(fs) > 0, err
}

// streamText masks first and then the rest of r through one stream.
func streamText(ctx context.Context, eng *detectors.Engine, first []byte, r io.Reader, w io.Writer) (found bool, err error) {
	st := eng.NewStream(detectors.RedactOptions{})
	buf := make([]byte, scanChunk)
	p := first
	for {
		if len(p) > 0 {
			out, fs, err := st.Write(ctx, p)
			if err != nil {
				return found, fmt.Errorf("scanning: %w", err)
			}
			found = found || len(fs) > 0
			if _, err := w.Write(out); err != nil {
				return found, fmt.Errorf("writing output: %w", err)
			}
		}
		n, rerr := r.Read(buf)
		p = buf[:n]
		if errors.Is(rerr, io.EOF) {
			if n > 0 {
				continue // write it, then read EOF again
			}
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
