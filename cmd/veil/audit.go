package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/veilproxy/veil/vault"
)

const auditUsage = `usage: veil audit COMMAND
  verify --config FILE               check the hash chain; exit 1 naming the first bad row
  export --config FILE [--out FILE]  write the trail as JSON Lines (stdout by default)`

// cmdAudit checks or exports the audit trail.
func cmdAudit(ctx context.Context, args []string, io stdio) int {
	if len(args) == 0 {
		fmt.Fprintln(io.Err, auditUsage)
		return 2
	}
	switch args[0] {
	case "verify":
		return withVault(ctx, "audit verify", args[1:], io, func(v *vault.Vault) int {
			n, err := v.VerifyAudit(ctx)
			var ae *vault.AuditError
			if errors.As(err, &ae) {
				fmt.Fprintf(io.Out, "audit trail BROKEN at row %d: %s (%d rows verified before it)\n", ae.RowID, ae.Reason, n)
				return 1
			}
			if err != nil {
				fmt.Fprintf(io.Err, "veil audit verify: %v\n", err)
				return 2
			}
			fmt.Fprintf(io.Out, "audit trail ok: %d rows\n", n)
			return 0
		})
	case "export":
		return auditExport(ctx, args[1:], io)
	case "help", "-h", "--help":
		fmt.Fprintln(io.Out, auditUsage)
		return 0
	}
	fmt.Fprintf(io.Err, "veil audit: unknown command %q\n%s\n", args[0], auditUsage)
	return 2
}

func auditExport(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
	fs.SetOutput(io.Err)
	configPath := fs.String("config", "veil.yaml", "config `file`")
	out := fs.String("out", "", "write to `FILE` instead of stdout")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(io.Err, "veil audit export: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, key, code := loadVaultConfig("audit export", *configPath, io)
	if cfg == nil {
		return code
	}
	return runOnVault(ctx, "audit export", cfg, key, io, func(v *vault.Vault) int {
		if *out == "" {
			w := bufio.NewWriter(io.Out)
			if err := v.ExportAudit(ctx, w); err != nil {
				fmt.Fprintf(io.Err, "veil audit export: %v\n", err)
				return 1
			}
			if err := w.Flush(); err != nil {
				fmt.Fprintf(io.Err, "veil audit export: %v\n", err)
				return 1
			}
			return 0
		}
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			fmt.Fprintf(io.Err, "veil audit export: %v\n", err)
			return 1
		}
		w := bufio.NewWriter(f)
		err = v.ExportAudit(ctx, w)
		if err == nil {
			err = w.Flush()
		}
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			fmt.Fprintf(io.Err, "veil audit export: %v\n", err)
			return 1
		}
		return 0
	})
}
