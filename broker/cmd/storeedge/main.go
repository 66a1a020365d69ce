// Command storeedge is the store broker daemon. With no flags it runs on the
// embedded default configuration; `storeedge passwd` prints a password hash for
// the device registry; `storeedge compact` rewrites a stopped store's database
// without its freed pages; `storeedge admin reset-password NAME` sets a staff
// account's password and `storeedge devices export` prints the account
// registry as devices.yaml, through the running daemon's admin socket or on
// the stopped store's database; `storeedge migrate` lists or applies a
// stopped store's pending schema migrations; `storeedge backup FILE` writes
// an encrypted backup and `storeedge restore FILE` restores one into an
// empty data_dir; `storeedge doctor` checks the box and says what to do.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/broker/doctor"
	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/sdnotify"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "passwd":
			if err := passwd(os.Stdin, os.Stdout, os.Stderr); err != nil {
				fmt.Fprintln(os.Stderr, "storeedge passwd:", err)
				os.Exit(1)
			}
			return
		case "version":
			fmt.Println("storeedge", version)
			return
		case "compact":
			if err := compact(os.Args[2:], os.Stdout); err != nil {
				fmt.Fprintln(os.Stderr, "storeedge compact:", err)
				os.Exit(1)
			}
			return
		case "migrate":
			if err := migrate(os.Args[2:], os.Stdout); err != nil {
				fmt.Fprintln(os.Stderr, "storeedge migrate:", err)
				os.Exit(1)
			}
			return
		case "backup", "restore":
			if err := backupCmd(os.Args[1], os.Args[2:], os.Stdin, os.Stdout, os.Stderr); err != nil {
				fmt.Fprintf(os.Stderr, "storeedge %s: %v\n", os.Args[1], err)
				os.Exit(1)
			}
			return
		case "doctor":
			os.Exit(doctorCmd(os.Args[2:], os.Stdout, os.Stderr))
		case "admin", "devices":
			if err := accountsCmd(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
				fmt.Fprintf(os.Stderr, "storeedge %s: %v\n", os.Args[1], err)
				os.Exit(1)
			}
			return
		}
	}
	fs := flag.NewFlagSet("storeedge", flag.ExitOnError)
	configPath := fs.String("config", "", "configuration file (default: the embedded configs/store.yaml)")
	printConfig := fs.Bool("print-default-config", false, "print the embedded default configuration and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: storeedge [-config FILE]\n       storeedge passwd   (print a password hash for devices.yaml)\n       storeedge compact [-config FILE]   (broker stopped: rewrite the database without its freed pages)\n       storeedge migrate [-config FILE] [--dry-run]   (broker stopped: list, or apply, the pending schema migrations)\n       storeedge admin reset-password [-config FILE] NAME   (a staff account's new password, read from the terminal)\n       storeedge devices export [-config FILE]   (the account registry in the devices.yaml format)\n       storeedge backup [-config FILE] [-recipient age1…] FILE   (an encrypted backup, the daemon running or not)\n       storeedge restore [-config FILE] [-identity FILE] [-config-out DIR] FILE   (into an empty data_dir)\n       storeedge doctor [-config FILE] [--json]   (check the box: exit 0 all ok, 1 a warning, 2 a failure, 3 doctor could not run)\n       storeedge version\n\n")
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:])
	if *printConfig {
		_, _ = os.Stdout.Write(configs.Store)
		return
	}
	if err := run(*configPath); err != nil {
		fmt.Fprintln(os.Stderr, "storeedge:", err)
		os.Exit(1)
	}
}

func run(configPath string) error {
	cfg, err := broker.LoadConfig(configPath)
	if err != nil {
		return err
	}
	cfg.BuildVersion = version
	log := newLogger(cfg.Log)
	tuneRuntime(cfg.Runtime)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)

	start := time.Now()
	b, err := broker.Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	a := b.Addrs()
	log.Info("storeedge ready", "version", version, "store", cfg.StoreID, "data", cfg.DataDir, "startup", time.Since(start).Round(time.Millisecond))
	printWelcome(os.Stdout, a)

	// systemd (Type=notify, README "Installing on the box"): ready now, the
	// watchdog pinged while the broker answers, stopping on shutdown.
	// Nothing is sent without NOTIFY_SOCKET.
	notify, err := sdnotify.FromEnv()
	if err != nil {
		log.Warn("not telling systemd how the daemon is doing", "error", err)
	}
	if err := notify.Ready(fmt.Sprintf("serving store %s (MQTT %s)", cfg.StoreID, a.TCP)); err != nil {
		log.Warn("systemd notification", "error", err)
	}
	go func() {
		if err := notify.Watchdog(ctx, b.Alive); err != nil {
			log.Error("systemd watchdog: no longer pinging", "error", err)
		}
	}()

	for {
		select {
		case <-hup:
			if err := b.Reload(); err != nil {
				log.Error("reload failed; keeping the previous registry and ACL", "error", err)
			}
		case <-ctx.Done():
			log.Info("shutting down")
			_ = notify.Stopping()
			sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			err := b.Shutdown(sctx)
			cancel()
			if err != nil {
				return err
			}
			log.Info("stopped")
			return nil
		}
	}
}

func printWelcome(w io.Writer, a broker.Addrs) {
	fmt.Fprintln(w, "storeedge is listening:")
	if a.TCP != "" {
		fmt.Fprintf(w, "  MQTT       mqtt://%s\n", a.TCP)
	}
	if a.TLS != "" {
		fmt.Fprintf(w, "  MQTT/TLS   mqtts://%s\n", a.TLS)
	}
	if a.Websocket != "" {
		fmt.Fprintf(w, "  WebSocket  ws://%s (see listeners.websocket_path)\n", a.Websocket)
	}
	if a.HTTP != "" {
		fmt.Fprintf(w, "  HTTP       http://%s/healthz  /readyz  /metrics\n", a.HTTP)
	}
	if host, port, err := net.SplitHostPort(a.TCP); err == nil {
		// The address actually bound: a port of 0 in the config is a real
		// port here; a wildcard host is reachable on the loopback.
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "127.0.0.1"
		}
		fmt.Fprintln(w, "Connect with a device id as username and its password, e.g.")
		fmt.Fprintf(w, "  mosquitto_sub -h %s -p %s -i admin-1 -u admin-1 -P '<password>' -t 'devices/+/status' -v\n", host, port)
	}
	fmt.Fprintln(w, "No admin yet? See README.md, \"First run\".")
}

// compact rewrites the stopped store's database without its freed pages
// (broker.Compact).
func compact(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("storeedge compact", flag.ContinueOnError)
	configPath := fs.String("config", "", "configuration file (default: the embedded configs/store.yaml)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := broker.LoadConfig(*configPath)
	if err != nil {
		return err
	}
	before, after, err := broker.Compact(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "compacted %s: %d → %d bytes\n", cfg.DataDir, before, after)
	return nil
}

// migrate lists the stopped store's pending schema migrations and what each
// changes, and applies them unless --dry-run (broker.Migrate).
func migrate(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("storeedge migrate", flag.ContinueOnError)
	configPath := fs.String("config", "", "configuration file (default: the embedded configs/store.yaml)")
	dryRun := fs.Bool("dry-run", false, "only say what would change")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errors.New("usage: storeedge migrate [-config FILE] [--dry-run]")
	}
	cfg, err := broker.LoadConfig(*configPath)
	if err != nil {
		return err
	}
	cfg.BuildVersion = version
	rep, err := broker.Migrate(cfg, *dryRun)
	if err != nil {
		return err
	}
	rep.Print(out, *dryRun)
	for _, c := range rep.Pending {
		if c.Err != nil {
			return fmt.Errorf("migration %d→%d (%s) would fail; the database is unchanged", c.From, c.To, c.Name)
		}
	}
	return nil
}

// doctorCmd runs `storeedge doctor`: the checks of broker.Doctor, one line
// each and what to do (or --json), and the exit status by the worst.
func doctorCmd(args []string, out, errw io.Writer) int {
	fs := flag.NewFlagSet("storeedge doctor", flag.ContinueOnError)
	fs.SetOutput(errw)
	configPath := fs.String("config", "", "configuration file (default: the embedded configs/store.yaml)")
	asJSON := fs.Bool("json", false, `print {"checks":[…],"severity":"ok|warn|fail"}`)
	if err := fs.Parse(args); err != nil {
		return doctor.ExitCouldNt
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(errw, "usage: storeedge doctor [-config FILE] [--json]")
		return doctor.ExitCouldNt
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	checks, err := broker.Doctor(ctx, *configPath)
	if err != nil {
		fmt.Fprintln(errw, "storeedge doctor: could not run:", err)
		return doctor.ExitCouldNt
	}
	if *asJSON {
		err = doctor.WriteJSON(out, checks)
	} else {
		err = doctor.WriteText(out, checks)
	}
	if err != nil {
		fmt.Fprintln(errw, "storeedge doctor:", err)
		return doctor.ExitCouldNt
	}
	return doctor.ExitCode(checks)
}

// tuneRuntime applies the garbage collector settings unless the environment
// sets them (GOGC, GOMEMLIMIT), which the Go runtime has applied already.
func tuneRuntime(c broker.RuntimeConfig) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(c.GCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" && c.MemoryLimitMB > 0 {
		debug.SetMemoryLimit(c.MemoryLimitMB << 20)
	}
}

func newLogger(c broker.LogConfig) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// passwd reads a password (twice on a terminal, once from a pipe) and prints
// its hash for devices.yaml.
func passwd(in *os.File, out, errw io.Writer) error {
	pw, err := readPassword(in, errw)
	if err != nil {
		return err
	}
	if len(pw) < 8 {
		return errors.New("use at least 8 characters")
	}
	h, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, h)
	return nil
}

// readPassword reads a password: twice on a terminal (not echoed), one
// line from a pipe.
func readPassword(in *os.File, errw io.Writer) (string, error) {
	var pw string
	if term.IsTerminal(int(in.Fd())) {
		fmt.Fprint(errw, "Password: ")
		a, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(errw)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(errw, "Again: ")
		b, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(errw)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		pw = string(a)
	} else {
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	return pw, nil
}

// accountsCmd runs `storeedge admin reset-password NAME` and `storeedge
// devices export`: through the running daemon's admin socket (data_dir/
// admin.sock), or on the stopped store's database.
func accountsCmd(args []string, in *os.File, out, errw io.Writer) error {
	if len(args) < 2 || (args[0] == "admin" && args[1] != "reset-password") || (args[0] == "devices" && args[1] != "export") {
		return errors.New("usage: storeedge admin reset-password [-config FILE] NAME | storeedge devices export [-config FILE]")
	}
	fs := flag.NewFlagSet("storeedge "+args[0]+" "+args[1], flag.ContinueOnError)
	configPath := fs.String("config", "", "configuration file (default: the embedded configs/store.yaml)")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	cfg, err := broker.LoadConfig(*configPath)
	if err != nil {
		return err
	}
	if args[0] == "devices" {
		return broker.ExportDevices(cfg, out)
	}
	if fs.NArg() != 1 {
		return errors.New("name the account: storeedge admin reset-password NAME")
	}
	pw, err := readPassword(in, errw)
	if err != nil {
		return err
	}
	if err := broker.ResetPassword(cfg, fs.Arg(0), pw); err != nil {
		return err
	}
	fmt.Fprintf(out, "the password of %s is changed; its connections were closed\n", fs.Arg(0))
	return nil
}
