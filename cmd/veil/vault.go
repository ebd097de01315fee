package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"

	"github.com/veilproxy/veil/vault"
)

const vaultUsage = `usage: veil vault COMMAND
  new-master-key             print a new master key (32 random bytes, base64)
  init --config FILE         create the encrypted keyset and database in data_dir
  rotate-key --config FILE   add a new primary key; old records stay readable
  purge --config FILE        delete expired records now and print how many`

// cmdVault manages the vault's keys and records.
func cmdVault(ctx context.Context, args []string, io stdio) int {
	if len(args) == 0 {
		fmt.Fprintln(io.Err, vaultUsage)
		return 2
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "new-master-key":
		return vaultNewMasterKey(rest, io)
	case "init":
		return vaultInit(ctx, rest, io)
	case "rotate-key":
		return withVault(ctx, "vault rotate-key", rest, io, func(v *vault.Vault) int {
			if err := v.RotateKey(ctx); err != nil {
				fmt.Fprintf(io.Err, "veil vault rotate-key: %v\n", err)
				return 1
			}
			fmt.Fprintln(io.Out, "key rotated: new records are sealed under a new primary key; existing records stay readable")
			fmt.Fprintln(io.Err, "back up data_dir/"+vault.KeysetFile+" now: it holds every key")
			return 0
		})
	case "purge":
		return withVault(ctx, "vault purge", rest, io, func(v *vault.Vault) int {
			n, err := v.Purge(ctx)
			if err != nil {
				fmt.Fprintf(io.Err, "veil vault purge: %v\n", err)
				return 1
			}
			fmt.Fprintf(io.Out, "%d\n", n)
			return 0
		})
	case "help", "-h", "--help":
		fmt.Fprintln(io.Out, vaultUsage)
		return 0
	}
	fmt.Fprintf(io.Err, "veil vault: unknown command %q\n%s\n", sub, vaultUsage)
	return 2
}

func vaultNewMasterKey(args []string, io stdio) int {
	if len(args) > 0 {
		fmt.Fprintln(io.Err, "usage: veil vault new-master-key")
		return 2
	}
	k, err := vault.NewMasterKey()
	if err != nil {
		fmt.Fprintf(io.Err, "veil vault new-master-key: %v\n", err)
		return 1
	}
	fmt.Fprintln(io.Out, k)
	fmt.Fprintln(io.Err, "put this key in the environment variable or file named by vault.key in the config, and keep a copy offline:")
	fmt.Fprintln(io.Err, "without it nothing in the vault can be opened again.")
	return 0
}

func vaultInit(ctx context.Context, args []string, io stdio) int {
	cfg, key, code := vaultSetup("vault init", args, io)
	if cfg == nil {
		return code
	}
	defer clear(key)
	created, err := vault.Init(ctx, cfg.DataDir, key, vault.Options{Retention: cfg.Vault.Retention, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintf(io.Err, "veil vault init: %v\n", err)
		return 1
	}
	if created {
		fmt.Fprintf(io.Out, "vault created in %s (keyset %s, database %s)\n", cfg.DataDir, vault.KeysetFile, vault.DBFile)
	} else {
		fmt.Fprintf(io.Out, "vault already set up in %s; the master key opens it\n", cfg.DataDir)
	}
	return 0
}

// vaultSetup parses --config, loads the config and the master key. On
// failure it prints why and returns a nil config and the exit code.
func vaultSetup(name string, args []string, io stdio) (*fileConfig, []byte, int) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Err)
	configPath := fs.String("config", "veil.yaml", "config `file`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, 0
		}
		return nil, nil, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(io.Err, "veil %s: unexpected argument %q\n", name, fs.Arg(0))
		return nil, nil, 2
	}
	return loadVaultConfig(name, *configPath, io)
}

func loadVaultConfig(name, path string, io stdio) (*fileConfig, []byte, int) {
	cfg, err := loadConfig(path)
	if err != nil {
		fmt.Fprintf(io.Err, "veil %s: %v\n", name, err)
		return nil, nil, 2
	}
	key, err := vault.LoadMasterKey(cfg.Vault.Key, io.Getenv)
	if err != nil {
		// The error says what is expected and how to make a key; it never
		// repeats what was found.
		fmt.Fprintf(io.Err, "veil %s: %v\n", name, err)
		return nil, nil, 2
	}
	return cfg, key, 0
}

// withVault opens an existing vault from --config and runs fn on it.
func withVault(ctx context.Context, name string, args []string, io stdio, fn func(v *vault.Vault) int) int {
	cfg, key, code := vaultSetup(name, args, io)
	if cfg == nil {
		return code
	}
	return runOnVault(ctx, name, cfg, key, io, fn)
}

func runOnVault(ctx context.Context, name string, cfg *fileConfig, key []byte, io stdio, fn func(v *vault.Vault) int) int {
	v, err := vault.OpenExisting(ctx, cfg.DataDir, key, vault.Options{Retention: cfg.Vault.Retention, Logger: slog.New(slog.DiscardHandler)})
	clear(key)
	if err != nil {
		fmt.Fprintf(io.Err, "veil %s: %v\n", name, err)
		return 1
	}
	code := fn(v)
	if err := v.Close(); err != nil {
		fmt.Fprintf(io.Err, "veil %s: closing vault: %v\n", name, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
