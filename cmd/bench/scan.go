package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// scanTool is one program measured by the scan benchmark: it reads the
// file named as its last argument and writes the redacted text to stdout.
type scanTool struct {
	name string
	argv []string // the file is appended
}

// peerRedactor is an npm package measured against veil scan, with the
// script that runs it over a file.
type peerRedactor struct {
	pkg    string
	script string
}

// peerRedactors are the npm redactors the scan benchmark compares with.
// Neither validates Luhn checksums nor knows any health identifier.
func peerRedactors() []peerRedactor {
	return []peerRedactor{
		{"redact-pii", `const fs = require('fs');
const { SyncRedactor } = require('redact-pii');
const text = fs.readFileSync(process.argv[2], 'utf8');
process.stdout.write(new SyncRedactor().redact(text));
`},
		{"@redactpii/node", `const fs = require('fs');
const { Redactor } = require('@redactpii/node');
const text = fs.readFileSync(process.argv[2], 'utf8');
process.stdout.write(new Redactor().redact(text));
`},
	}
}

// benchScan measures `veil scan` against the npm redactors on the same
// generated chat text, each as a whole process, alternating runs:
//
//	go run ./cmd/bench scan [-mb 8] [-rounds 5] [-keep]
func benchScan(args []string) error {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	sizeMB := fs.Int("mb", 8, "size of the generated chat text in MB (at least 8)")
	rounds := fs.Int("rounds", 5, "timed runs per tool; the median is reported")
	keep := fs.Bool("keep", false, "keep the temporary directory")
	timeout := fs.Duration("timeout", 10*time.Minute, "limit for one run of one tool")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *sizeMB < 8 {
		return errors.New("-mb must be at least 8")
	}
	if *rounds < 1 {
		return errors.New("-rounds must be at least 1")
	}
	ctx := context.Background()

	dir, err := os.MkdirTemp("", "veil-bench-scan-")
	if err != nil {
		return fmt.Errorf("creating temp dir: %w", err)
	}
	if *keep {
		fmt.Println("working in", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	text := chatText(*sizeMB << 20)
	textPath := filepath.Join(dir, "chat.txt")
	if err := os.WriteFile(textPath, text, 0o600); err != nil {
		return fmt.Errorf("writing chat text: %w", err)
	}
	fmt.Printf("chat text: %.1f MB, %d lines\n", float64(len(text))/(1<<20), bytes.Count(text, []byte("\n")))

	veil, err := buildVeil(ctx, dir)
	if err != nil {
		return err
	}
	tools := []scanTool{{"veil scan", []string{veil, "scan"}}}
	for _, p := range peerRedactors() {
		t, err := installPeer(ctx, dir, p)
		if err != nil {
			fmt.Printf("skipping %s: %v\n", p.pkg, err)
			continue
		}
		tools = append(tools, t)
	}

	times := make([][]time.Duration, len(tools))
	failed := make([]error, len(tools))
	for r := range *rounds {
		for i, t := range tools {
			if failed[i] != nil {
				continue
			}
			d, err := timeRun(ctx, *timeout, t, textPath)
			if err != nil {
				failed[i] = err
				fmt.Printf("%s failed in round %d: %v\n", t.name, r+1, err)
				continue
			}
			times[i] = append(times[i], d)
		}
	}

	mb := float64(len(text)) / 1e6
	rates := make([]float64, len(tools))
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\ntool\tmedian\tMB/s\tveil speed / this tool\n")
	for i, t := range tools {
		if len(times[i]) == 0 {
			fmt.Fprintf(tw, "%s\tfailed\t\t\n", t.name)
			continue
		}
		med := median(times[i])
		rates[i] = mb / med.Seconds()
		ratio := "-"
		if i > 0 && rates[0] > 0 {
			ratio = fmt.Sprintf("%.1fx", rates[0]/rates[i])
		}
		fmt.Fprintf(tw, "%s\t%v\t%.1f\t%s\n", t.name, med.Round(time.Millisecond), rates[i], ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Println("(MB = 10^6 bytes; whole processes, startup included; runs alternate between tools)")

	return sideBySide(ctx, dir, tools)
}

// buildVeil builds the veil binary of the module bench runs in.
func buildVeil(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "veil")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/veil")
	if root, err := moduleRoot(ctx); err == nil {
		cmd.Dir = root
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building veil: %w", err)
	}
	return out, nil
}

// moduleRoot returns the directory of the main module's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a module")
	}
	return filepath.Dir(gomod), nil
}

// installPeer installs one npm package into a folder of its own under dir
// and writes the script that runs it.
func installPeer(ctx context.Context, dir string, p peerRedactor) (scanTool, error) {
	if _, err := exec.LookPath("npm"); err != nil {
		return scanTool{}, errors.New("npm is not installed")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return scanTool{}, errors.New("node is not installed")
	}
	pdir := filepath.Join(dir, "peers", strings.NewReplacer("@", "", "/", "-").Replace(p.pkg))
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		return scanTool{}, err
	}
	if err := os.WriteFile(filepath.Join(pdir, "package.json"), []byte(`{"private": true}`), 0o644); err != nil {
		return scanTool{}, err
	}
	ictx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ictx, "npm", "install", "--no-audit", "--no-fund", "--loglevel=error", p.pkg)
	cmd.Dir = pdir
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		return scanTool{}, fmt.Errorf("npm install %s: %w\n%s", p.pkg, err, lastLines(log.String(), 5))
	}
	script := filepath.Join(pdir, "redact.js")
	if err := os.WriteFile(script, []byte(p.script), 0o644); err != nil {
		return scanTool{}, err
	}
	return scanTool{name: p.pkg, argv: []string{node, script}}, nil
}

// timeRun runs t over file once, output discarded, and returns its wall
// time. veil scan exits 1 when it found something, which is success here.
func timeRun(ctx context.Context, limit time.Duration, t scanTool, file string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	argv := append(slices.Clone(t.argv), file)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr // stdout stays nil: /dev/null
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 && t.name == "veil scan" {
		err = nil
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %s", err, lastLines(stderr.String(), 3))
	}
	return d, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// sample is one labelled line of the correctness comparison. secret says
// whether the value should be masked; look-alikes fail their checksum.
type sample struct {
	kind   string
	value  string
	secret bool
	line   string
}

// labelledSamples are public test values and checksum-failing look-alikes
// in chat sentences.
func labelledSamples() []sample {
	return []sample{
		{"card (Visa test)", "4111 1111 1111 1111", true, "my card is 4111 1111 1111 1111 thanks"},
		{"card (Amex test)", "378282246310005", true, "amex 378282246310005 exp 04/28"},
		{"card (Mastercard 2-series)", "2223-0031-2200-3222", true, "use 2223-0031-2200-3222 please"},
		{"card, full-width digits", "４２４２４２４２４２４２４２４２", true, "card ４２４２４２４２４２４２４２４２ ok"},
		{"Luhn-failing 16 digits", "4111 1111 1111 1112", false, "order ref 4111 1111 1111 1112 shipped"},
		{"SSN", "536-22-1234", true, "my SSN is 536-22-1234"},
		{"SSN look-alike (area 666)", "666-22-1234", false, "form sample 666-22-1234"},
		{"phone", "(415) 555-0132", true, "call me at (415) 555-0132"},
		{"Medicare MBI (CMS example)", "1EG4-TE5-MK73", true, "my Medicare number is 1EG4-TE5-MK73"},
		{"NPI", "1234567893", true, "provider NPI 1234567893 for the claim"},
		{"DEA", "AB1234563", true, "prescriber DEA AB1234563"},
		{"IBAN", "GB29 NWBK 6016 1331 9268 19", true, "IBAN GB29 NWBK 6016 1331 9268 19"},
		{"ABA routing", "011000015", true, "routing number 011000015"},
		{"VIN", "1M8GDM9AXKP042788", true, "VIN 1M8GDM9AXKP042788 on the claim"},
		{"tracking number", "1Z999AA10123456784", false, "UPS tracking 1Z999AA10123456784"},
		{"order number", "112-4829301-2283741", false, "order 112-4829301-2283741 arrived"},
		{"version string", "4.12.1.3390", false, "I'm on build 4.12.1.3390"},
		{"price", "$1,249.99", false, "why was I charged $1,249.99?"},
	}
}

// sideBySide runs every tool over the labelled samples and prints which
// values each one masked.
func sideBySide(ctx context.Context, dir string, tools []scanTool) error {
	samples := labelledSamples()
	var b strings.Builder
	for _, s := range samples {
		b.WriteString(s.line + "\n")
	}
	path := filepath.Join(dir, "samples.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return err
	}
	outputs := make([][]string, len(tools))
	for i, t := range tools {
		argv := append(slices.Clone(t.argv), path)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		out, err := cmd.Output()
		var ee *exec.ExitError
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1 && i == 0) {
			fmt.Printf("%s failed on the samples: %v\n", t.name, err)
			continue
		}
		lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
		if len(lines) != len(samples) {
			fmt.Printf("%s changed the number of lines; skipped in the comparison\n", t.name)
			continue
		}
		outputs[i] = lines
	}
	fmt.Println("\ncorrectness on labelled samples (masked = the value no longer appears as written):")
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "sample\tshould mask")
	for _, t := range tools {
		fmt.Fprintf(tw, "\t%s", t.name)
	}
	fmt.Fprintln(tw)
	right := make([]int, len(tools))
	for j, s := range samples {
		fmt.Fprintf(tw, "%s\t%s", s.kind, yesNo(s.secret))
		for i := range tools {
			if outputs[i] == nil {
				fmt.Fprint(tw, "\t-")
				continue
			}
			masked := !strings.Contains(outputs[i][j], s.value)
			mark := "kept"
			if masked {
				mark = "masked"
			}
			if masked == s.secret {
				right[i]++
			} else {
				mark += " (wrong)"
			}
			fmt.Fprintf(tw, "\t%s", mark)
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprint(tw, "right\t")
	for i := range tools {
		fmt.Fprintf(tw, "\t%d/%d", right[i], len(samples))
	}
	fmt.Fprintln(tw)
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// chatText generates n bytes (whole lines) of support-chat text in which
// about one line in fifty holds a sensitive value. The generator is seeded
// so every run measures the same text.
func chatText(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"Maria", "James", "Priya", "Tom", "Aisha", "Chen", "Olga", "Luis", "Fatima", "Noah"}
	plain := []string{
		"Hi %s, thanks for reaching out to support today. How can I help?",
		"I was charged twice for order %d and would like a refund please",
		"Your appointment is confirmed for %s at 10:30, please arrive 15 minutes early.",
		"Can you check why the app logs me out every few minutes since version 4.%d.1?",
		"The pharmacy says the prescription was sent but they have not received it yet",
		"Tracking number 1Z999AA1%08d shows it left the warehouse on Monday",
		"Our plan renews on the 1st and costs $%d.99 per month with tax included",
		"I have uploaded the documents, let me know if anything else is missing",
		"Billing here, I can see the invoice INV-2026-%06d on your account",
		"The doctor asked for the lab results from last week before the follow-up visit",
		"ok thanks, that worked! have a great day",
		"Is the clinic open on Saturday mornings or only weekdays?",
	}
	secret := []func() string{
		func() string { return "my card is 4111 1111 1111 1111 exp 09/28" },
		func() string { return "use the amex 378282246310005 for this one" },
		func() string { return fmt.Sprintf("my SSN is 536-%02d-%04d", 10+rng.IntN(89), 1000+rng.IntN(8999)) },
		func() string { return "Medicare number 1EG4-TE5-MK73 for my mother" },
		func() string { return "the referring provider NPI is 1234567893" },
		func() string { return "please call me back at (415) 555-0132" },
		func() string { return "wire it to GB29 NWBK 6016 1331 9268 19" },
		func() string { return "email me at maria.lee@example.com" },
	}
	var b bytes.Buffer
	b.Grow(n + 256)
	for b.Len() < n {
		fmt.Fprintf(&b, "[%02d:%02d] %s: ", rng.IntN(24), rng.IntN(60), names[rng.IntN(len(names))])
		if rng.IntN(50) == 0 {
			b.WriteString(secret[rng.IntN(len(secret))]())
		} else {
			tpl := plain[rng.IntN(len(plain))]
			switch strings.Count(tpl, "%") {
			case 0:
				b.WriteString(tpl)
			default:
				if strings.Contains(tpl, "%s") {
					fmt.Fprintf(&b, tpl, names[rng.IntN(len(names))])
				} else {
					fmt.Fprintf(&b, tpl, rng.IntN(1000000))
				}
			}
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}
