package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"filippo.io/age"
	"golang.org/x/term"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/broker/backup"
)

// backupCmd runs `storeedge backup` and `storeedge restore`.
func backupCmd(cmd string, args []string, in *os.File, out, errw io.Writer) error {
	fs := flag.NewFlagSet("storeedge "+cmd, flag.ContinueOnError)
	fs.SetOutput(errw)
	configPath := fs.String("config", "", "configuration file (default: the embedded configs/store.yaml)")
	var recipient, identity, configOut *string
	if cmd == "backup" {
		recipient = fs.String("recipient", "", "encrypt to this age public key (age1…) instead of backup.recipient")
	} else {
		identity = fs.String("identity", "", "an age identity file (AGE-SECRET-KEY-1…) of a recipient the backup was made for")
		configOut = fs.String("config-out", "", "write the backup's config files into this folder (not overwriting any)")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		if cmd == "backup" {
			return errors.New("name the backup file: storeedge backup [-config FILE] [-recipient age1…] FILE")
		}
		return errors.New("name the backup file: storeedge restore [-config FILE] [-identity FILE] [-config-out DIR] FILE")
	}
	cfg, err := broker.LoadConfig(*configPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if cmd == "backup" {
		return doBackup(ctx, cfg, fs.Arg(0), *recipient, in, out, errw)
	}
	return doRestore(ctx, cfg, fs.Arg(0), *identity, *configOut, in, out, errw)
}

func doBackup(ctx context.Context, cfg broker.Config, file, recipient string, in *os.File, out, errw io.Writer) error {
	enc := cfg.BackupEncryption()
	if recipient != "" {
		if err := backup.ParseRecipient(recipient); err != nil {
			return fmt.Errorf("-recipient: %w", err)
		}
		enc.Recipients = []string{recipient}
	}
	if enc.Passphrase == "" && len(enc.Recipients) == 0 {
		if !term.IsTerminal(int(in.Fd())) {
			return backup.ErrNoKey
		}
		pw, err := readPassword(in, errw)
		if err != nil {
			return err
		}
		if len(pw) < 8 {
			return errors.New("use a passphrase of at least 8 characters")
		}
		enc.Passphrase = pw
	}
	if _, err := os.Stat(file); err == nil {
		return fmt.Errorf("%s exists already; name a new file", file)
	}
	m, err := backup.WriteFile(ctx, file, func(ctx context.Context, w io.Writer) (*backup.Manifest, error) {
		return broker.Backup(ctx, cfg, w, enc)
	})
	if err != nil {
		return err
	}
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	how := []string{}
	if enc.Passphrase != "" {
		how = append(how, "the passphrase")
	}
	for _, r := range enc.Recipients {
		how = append(how, "the secret key of "+r)
	}
	fmt.Fprintf(out, "backup of store %s written to %s (%d bytes, mode 0600): database transaction %d (%d bytes, media included), seal keys, %d config files\n",
		m.StoreID, file, fi.Size(), m.DBTx, m.DBBytes, len(m.Configs()))
	fmt.Fprintf(out, "it opens with %s; keep it off the box\n", strings.Join(how, " or with "))
	return nil
}

func doRestore(ctx context.Context, cfg broker.Config, file, identity, configOut string, in *os.File, out, errw io.Writer) error {
	var key backup.Key
	if identity != "" {
		f, err := os.Open(identity)
		if err != nil {
			return fmt.Errorf("-identity: %w", err)
		}
		ids, err := age.ParseIdentities(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("-identity %s: %w", identity, err)
		}
		key.Identities = ids
	}
	if cfg.Backup.PassphraseEnv != "" {
		key.Passphrase = os.Getenv(cfg.Backup.PassphraseEnv)
	}
	if key.Passphrase == "" && len(key.Identities) == 0 {
		if !term.IsTerminal(int(in.Fd())) {
			return fmt.Errorf("give the backup's passphrase ($%s) or -identity FILE", cfg.Backup.PassphraseEnv)
		}
		fmt.Fprint(errw, "Passphrase: ")
		pw, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(errw)
		if err != nil {
			return fmt.Errorf("read passphrase: %w", err)
		}
		key.Passphrase = string(pw)
	}
	r, err := broker.Restore(ctx, cfg, file, key, configOut)
	if err != nil {
		return err
	}
	m := r.Manifest
	abs, _ := filepath.Abs(cfg.DataDir)
	fmt.Fprintf(out, "restored the backup of store %s made %s into %s (database transaction %d, %d bytes, media included)\n",
		m.StoreID, m.Made.Format("2006-01-02 15:04 MST"), abs, m.DBTx, m.DBBytes)
	if r.Keys != "" {
		fmt.Fprintf(out, "seal keys written to %s\n", r.Keys)
	} else {
		fmt.Fprintln(out, "seal keys: the ones already in place are the backup's")
	}
	fmt.Fprintf(out, "HQ link: a new epoch %s (HQ is told this box was restored)\n", r.Epoch)
	if cs := m.Configs(); len(cs) > 0 {
		if configOut != "" {
			fmt.Fprintf(out, "config files written to %s:\n", configOut)
		} else {
			fmt.Fprintln(out, "config files in the backup (not written; add -config-out DIR to write them):")
		}
		for _, c := range cs {
			fmt.Fprintf(out, "  %-24s %-28s was %s\n", backup.ConfigName(c), c.Role, c.Path)
		}
	}
	if m.StoreID != cfg.StoreID {
		fmt.Fprintf(out, "note: the backup is of store %s, this config says store_id %s\n", m.StoreID, cfg.StoreID)
	}
	return nil
}
