package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/mdp/qrterminal/v3"
	"golang.org/x/term"

	"github.com/veilproxy/veil/forms/agent"
	"github.com/veilproxy/veil/vault"
)

const agentsUsage = `usage: veil agents COMMAND
  add NAME --config FILE      create a local account: asks for the password twice,
                              prints the TOTP secret, its QR code and otpauth URL
  list --config FILE          print the account names
  remove NAME --config FILE   delete an account

API tokens and single sign-on are set in the agents: section of the config.`

// totpIssuer is the issuer shown by authenticator apps.
const totpIssuer = "Veil"

// accountName is what `veil agents add` accepts as an account name. It
// is compiled on first use: its counted repetition makes a large program,
// and every other command would pay for it at start-up.
var accountName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)
})

// cmdAgents manages local agent accounts in the vault.
func cmdAgents(ctx context.Context, args []string, io stdio) int {
	if len(args) == 0 {
		fmt.Fprintln(io.Err, agentsUsage)
		return 2
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "help", "-h", "--help":
		fmt.Fprintln(io.Out, agentsUsage)
		return 0
	case "add", "list", "remove":
	default:
		fmt.Fprintf(io.Err, "veil agents: unknown command %q\n%s\n", sub, agentsUsage)
		return 2
	}
	name := "agents " + sub
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Err)
	configPath := fs.String("config", "veil.yaml", "config `file`")
	pos, err := parseInterspersed(fs, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	want := 1
	if sub == "list" {
		want = 0
	}
	if len(pos) != want {
		fmt.Fprintf(io.Err, "veil %s: expected %d argument(s)\n%s\n", name, want, agentsUsage)
		return 2
	}
	cfg, key, code := loadVaultConfig(name, *configPath, io)
	if cfg == nil {
		return code
	}
	switch sub {
	case "list":
		return runOnVault(ctx, name, cfg, key, io, func(v *vault.Vault) int { return agentsList(ctx, v, io) })
	case "remove":
		return runOnVault(ctx, name, cfg, key, io, func(v *vault.Vault) int { return agentsRemove(ctx, v, pos[0], io) })
	}
	if !accountName().MatchString(pos[0]) {
		fmt.Fprintf(io.Err, "veil agents add: account names are 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit\n")
		return 2
	}
	// Adding the first account may come before the first start: create
	// the vault if there is none.
	v, err := vault.Open(ctx, cfg.DataDir, key, vault.Options{Retention: cfg.Vault.Retention, Logger: slog.New(slog.DiscardHandler)})
	clear(key)
	if err != nil {
		fmt.Fprintf(io.Err, "veil agents add: %v\n", err)
		return 1
	}
	code = agentsAdd(ctx, v, pos[0], io)
	if err := v.Close(); err != nil {
		fmt.Fprintf(io.Err, "veil agents add: closing vault: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

func agentsAdd(ctx context.Context, v *vault.Vault, name string, io stdio) int {
	if _, err := v.GetAccount(ctx, name); err == nil {
		fmt.Fprintf(io.Err, "veil agents add: account %q exists; remove it first to reset it\n", name)
		return 1
	} else if !errors.Is(err, vault.ErrNotFound) {
		fmt.Fprintf(io.Err, "veil agents add: %v\n", err)
		return 1
	}
	pr := newPasswordReader(io.In)
	fmt.Fprintf(io.Err, "Password for %s (at least %d characters): ", name, agent.MinPasswordLen)
	pw, err := pr.read()
	fmt.Fprintln(io.Err)
	if err != nil {
		fmt.Fprintf(io.Err, "veil agents add: reading password: %v\n", err)
		return 1
	}
	if err := agent.CheckPasswordPolicy(pw); err != nil {
		fmt.Fprintf(io.Err, "veil agents add: %v\n", err)
		return 1
	}
	fmt.Fprint(io.Err, "Password again: ")
	again, err := pr.read()
	fmt.Fprintln(io.Err)
	if err != nil {
		fmt.Fprintf(io.Err, "veil agents add: reading password: %v\n", err)
		return 1
	}
	if again != pw {
		fmt.Fprintln(io.Err, "veil agents add: the passwords differ")
		return 1
	}
	hash, err := agent.HashPassword(pw)
	if err != nil {
		fmt.Fprintf(io.Err, "veil agents add: %v\n", err)
		return 1
	}
	secret, otpURL, err := agent.NewTOTPSecret(name, totpIssuer)
	if err != nil {
		fmt.Fprintf(io.Err, "veil agents add: %v\n", err)
		return 1
	}
	if err := v.PutAccount(ctx, vault.Account{Name: name, PasswordHash: hash, TOTPSecret: []byte(secret)}); err != nil {
		fmt.Fprintf(io.Err, "veil agents add: %v\n", err)
		return 1
	}
	fmt.Fprintf(io.Out, "Account %q created. Sign-in needs the password and a code from an authenticator app.\n", name)
	fmt.Fprintln(io.Out, "Scan this QR code with the authenticator app (TOTP, 6 digits, every 30 seconds):")
	qrterminal.GenerateHalfBlock(otpURL, qrterminal.M, io.Out)
	fmt.Fprintf(io.Out, "otpauth URL: %s\n", otpURL)
	fmt.Fprintf(io.Out, "Secret, to type in by hand: %s\n", secret)
	fmt.Fprintln(io.Out, "This is the only time the secret is shown; it is stored sealed in the vault.")
	return 0
}

func agentsList(ctx context.Context, v *vault.Vault, io stdio) int {
	names, err := v.ListAccounts(ctx)
	if err != nil {
		fmt.Fprintf(io.Err, "veil agents list: %v\n", err)
		return 1
	}
	for _, n := range names {
		fmt.Fprintln(io.Out, n)
	}
	return 0
}

func agentsRemove(ctx context.Context, v *vault.Vault, name string, io stdio) int {
	if err := v.DeleteAccount(ctx, name); err != nil {
		if errors.Is(err, vault.ErrNotFound) {
			fmt.Fprintf(io.Err, "veil agents remove: no account %q\n", name)
			return 1
		}
		fmt.Fprintf(io.Err, "veil agents remove: %v\n", err)
		return 1
	}
	fmt.Fprintf(io.Out, "Account %q removed. Its open sessions end at their next request.\n", name)
	return 0
}

// passwordReader reads passwords without echo from a terminal, or one per
// line from anything else.
type passwordReader struct {
	fd    int
	tty   bool
	lines *bufio.Reader
}

func newPasswordReader(in io.Reader) *passwordReader {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &passwordReader{fd: int(f.Fd()), tty: true}
	}
	return &passwordReader{lines: bufio.NewReader(in)}
}

func (p *passwordReader) read() (string, error) {
	if p.tty {
		b, err := term.ReadPassword(p.fd)
		return string(b), err
	}
	line, err := p.lines.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("no password given")
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
