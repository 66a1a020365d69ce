package main

// `go run ./bench resources` (make resources): what the store broker costs on
// the box. See the package comment, "Resource figures".

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/storeedge/storeedge/firmware-sim/sim"
)

// storeedgePkg is the daemon the figures are for.
const storeedgePkg = "github.com/storeedge/storeedge/broker/cmd/storeedge"

// resOptions are the flags of `bench resources`.
type resOptions struct {
	goBin, qemu                     string
	kiosks, tablets, cameras, staff int
	video                           bool
	speed                           float64
	duration                        time.Duration
	native, emulated                bool
	keep                            bool
}

func (o resOptions) devices() int { return o.kiosks + o.tablets + o.cameras + o.staff }

func (o resOptions) validate() error {
	switch {
	case o.kiosks < 0 || o.tablets < 0 || o.cameras < 0 || o.staff < 0 || o.devices() == 0:
		return errors.New("-kiosks, -tablets, -cameras, -staff: none negative, at least one device")
	case o.speed <= 0:
		return fmt.Errorf("-speed %v: more than 0", o.speed)
	case o.duration < 10*time.Second:
		return fmt.Errorf("-duration %v: at least 10s (the figures need several one-second samples)", o.duration)
	case !o.native && !o.emulated:
		return errors.New("-native=false and -qemu-arm64=false: nothing to measure")
	}
	return nil
}

// procSample is one reading of the broker process.
type procSample struct {
	at         time.Time
	rss, hwm   int64   // VmRSS, VmHWM in bytes
	anon, file int64   // RssAnon (heap, stacks), RssFile (mapped files: the database, the binary) in bytes
	cpu        float64 // utime+stime in seconds
}

// resRun is what one binary's store day measured.
type resRun struct {
	label, arch string
	readyAfter  time.Duration // from exec to /readyz = 200
	readyCPU    float64       // CPU seconds used to get there
	readyRSS    int64
	window      time.Duration // measured, from ready
	samples     []procSample  // one a second over the window
	received    float64       // PUBLISH packets received (/metrics) in the window
	sent        float64       // PUBLISH packets sent (/metrics) in the window
	others      float64       // CPU seconds of every other process on the machine in the window
	simCPU      float64       // CPU seconds of this process (the simulator) in the window
	load1       string        // /proc/loadavg at the start
	sim         *sim.Result
	err         error
}

// peakRSS is the broker's high-water mark (VmHWM) at the end of the window:
// the most it was resident at any time since exec.
func (r *resRun) peakRSS() int64 {
	if len(r.samples) == 0 {
		return 0
	}
	return r.samples[len(r.samples)-1].hwm
}

// steady is the median of f over the second half of the window.
func (r *resRun) steady(f func(procSample) int64) int64 {
	var xs []float64
	for _, s := range r.samples[len(r.samples)/2:] {
		xs = append(xs, float64(f(s)))
	}
	return int64(median(xs))
}

// cpu is the broker's CPU seconds over the window.
func (r *resRun) cpu() float64 {
	if len(r.samples) < 2 {
		return math.NaN()
	}
	return r.samples[len(r.samples)-1].cpu - r.samples[0].cpu
}

func runResources(args []string) int {
	var o resOptions
	fs := flag.NewFlagSet("bench resources", flag.ContinueOnError)
	fs.StringVar(&o.goBin, "go", "go", "go command that builds the two storeedge binaries")
	fs.StringVar(&o.qemu, "qemu", "qemu-aarch64-static", "user-mode emulator that runs the arm64 build")
	fs.IntVar(&o.kiosks, "kiosks", 8, "kiosks of the simulated store")
	fs.IntVar(&o.tablets, "tablets", 24, "chat tablets")
	fs.IntVar(&o.cameras, "cameras", 8, "grooming-room cameras")
	fs.IntVar(&o.staff, "staff", 10, "staff tablets")
	fs.BoolVar(&o.video, "video", true, "cameras stream live video that staff watch and snapshot through the broker's relay")
	fs.Float64Var(&o.speed, "speed", 10, "pace of the store's day, as firmware-sim -speed (1: a real store's pace)")
	fs.DurationVar(&o.duration, "duration", 90*time.Second, "measured store day per binary, from the broker's readiness")
	fs.BoolVar(&o.native, "native", true, "measure the build for this machine")
	fs.BoolVar(&o.emulated, "qemu-arm64", true, "measure the linux/arm64 build under -qemu (skipped on an arm64 machine: native is arm64)")
	fs.BoolVar(&o.keep, "keep", false, "keep the binaries, configs, data and logs")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench resources [flags]\n\n"+
			"Builds storeedge for this machine and for linux/arm64, runs each on a fresh data_dir with a\n"+
			"simulated store day (firmware-sim's store) and prints the broker's RSS and CPU per message.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "bench resources:", err)
		return 2
	}
	if runtime.GOARCH == "arm64" {
		o.emulated = false
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := resources(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench resources:", err)
		return 1
	}
	return 0
}

func resources(ctx context.Context, o resOptions, out io.Writer) error {
	qemuVersion := ""
	if o.emulated {
		v, err := exec.Command(o.qemu, "--version").Output()
		if err != nil {
			return fmt.Errorf("%s: %w (Debian: apt-get install qemu-user-static, or -qemu-arm64=false)", o.qemu, err)
		}
		qemuVersion, _, _ = strings.Cut(strings.TrimSpace(string(v)), "\n")
	}
	parent, err := os.MkdirTemp("", "storeedge-resources-")
	if err != nil {
		return err
	}
	type target struct{ label, arch, bin string }
	var targets []target
	if o.native {
		targets = append(targets, target{"native " + runtime.GOARCH, runtime.GOARCH, ""})
	}
	if o.emulated {
		targets = append(targets, target{"arm64 under qemu", "arm64", ""})
	}
	for i, t := range targets {
		bin := filepath.Join(parent, "storeedge-linux-"+t.arch)
		t0 := time.Now()
		if err := buildStoreedge(ctx, o.goBin, t.arch, bin); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "built %s in %.0f s\n", bin, time.Since(t0).Seconds())
		targets[i].bin = bin
	}
	var runs []*resRun
	failed := false
	for _, t := range targets {
		if ctx.Err() != nil {
			break
		}
		var prefix []string
		if t.arch != runtime.GOARCH {
			prefix = []string{o.qemu}
		}
		fmt.Fprintf(os.Stderr, "== %s: %d devices for %v at speed %g\n", t.label, o.devices(), o.duration, o.speed)
		r := measureStoreDay(ctx, o, t.label, t.arch, prefix, t.bin, filepath.Join(parent, t.arch))
		runs = append(runs, r)
		if r.err != nil {
			failed = true
			fmt.Fprintf(os.Stderr, "%s: %v\n", t.label, r.err)
		}
	}
	printResources(out, o, qemuVersion, runs)
	if o.keep || failed {
		fmt.Fprintf(os.Stderr, "binaries, configs, data and logs kept in %s\n", parent)
	} else {
		_ = os.RemoveAll(parent)
	}
	if failed {
		return errors.New("a run failed (see above)")
	}
	return ctx.Err()
}

// buildStoreedge builds the daemon for linux/arch as `make dist` does.
func buildStoreedge(ctx context.Context, goBin, arch, out string) error {
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags", "-s -w", "-o", out, storeedgePkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if arch == "arm" {
		cmd.Env = append(cmd.Env, "GOARM=7")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build storeedge for linux/%s: %w\n%s", arch, err, stderr.String())
	}
	return nil
}

// measureStoreDay runs the simulator's store with its own spawned broker
// (bin, behind prefix: the emulator) in dir, and samples the broker process
// every second for o.duration from its readiness.
func measureStoreDay(ctx context.Context, o resOptions, label, arch string, prefix []string, bin, dir string) *resRun {
	r := &resRun{label: label, arch: arch}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.err = err
		return r
	}
	// The simulator spawns the broker itself (as `make demo` does); a
	// wrapper that execs it (under the emulator) tells us its process id.
	pidFile := filepath.Join(dir, "broker.pid")
	wrapper := filepath.Join(dir, "storeedge.sh")
	script := fmt.Sprintf("#!/bin/sh\necho $$ > %s\nexec %s \"$@\"\n", shellQuote(pidFile), shellQuote(append(prefix, bin)...))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		r.err = err
		return r
	}
	simDir := filepath.Join(dir, "sim")
	simOpts := sim.Options{
		Spawn: wrapper, Dir: simDir,
		Kiosks: o.kiosks, Tablets: o.tablets, Cameras: o.cameras, Staff: o.staff,
		Speed: o.speed, Duration: o.duration, NoVideo: !o.video,
		Log: os.Stderr,
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan simOut, 1)
	started := time.Now()
	go func() {
		res, err := sim.Run(runCtx, simOpts)
		done <- simOut{res, err}
	}()
	fail := func(err error) *resRun {
		cancel()
		<-done
		r.err = err
		return r
	}

	pid, httpAddr, err := awaitSpawned(ctx, pidFile, filepath.Join(simDir, "store", "store.yaml"), done)
	if err != nil {
		return fail(err)
	}
	if err := awaitReady(ctx, httpAddr, pid); err != nil {
		return fail(err)
	}
	// The wrapper writes the pid file just before it execs the broker.
	execAt := started
	if fi, err := os.Stat(pidFile); err == nil {
		execAt = fi.ModTime()
	}
	r.readyAfter = time.Since(execAt)
	first, err := readProc(pid)
	if err != nil {
		return fail(err)
	}
	r.readyCPU, r.readyRSS = first.cpu, first.rss
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		r.load1 = strings.Join(strings.Fields(string(la))[:3], " ")
	}
	m0, err := scrapeCounters(httpAddr)
	if err != nil {
		return fail(err)
	}
	c0 := markCPU(pid)
	r.samples = append(r.samples, first)
	end := first.at.Add(o.duration)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastNote := first.at
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case out := <-done:
			done <- out
			return fail(fmt.Errorf("the simulated store ended before the window did: %v", out.err))
		case <-tick.C:
		}
		s, err := readProc(pid)
		if err != nil {
			return fail(fmt.Errorf("the broker: %w", err))
		}
		r.samples = append(r.samples, s)
		if s.at.Sub(lastNote) >= 10*time.Second {
			lastNote = s.at
			fmt.Fprintf(os.Stderr, "  t=%3.0fs RSS %.1f MB (anonymous %.1f, files %.1f; peak %.1f), CPU %.1f s\n",
				s.at.Sub(first.at).Seconds(), mb(s.rss), mb(s.anon), mb(s.file), mb(s.hwm), s.cpu-first.cpu)
		}
	}
	c1 := markCPU(pid)
	m1, err := scrapeCounters(httpAddr)
	if err != nil {
		return fail(err)
	}
	r.window = r.samples[len(r.samples)-1].at.Sub(first.at)
	if m1.received == 0 {
		return fail(errors.New("the broker's /metrics counted no received publish (storeedge_messages_received_total) in the window"))
	}
	r.received = m1.received - m0.received
	r.sent = m1.sent - m0.sent
	_, r.simCPU, r.others = cpuBetween(c0, c1)
	// The simulator then checks every acknowledged operation and stops the
	// broker; its verdict goes beside the figures.
	so := <-done
	r.sim, r.err = so.res, so.err
	if r.err == nil && !r.sim.Pass {
		r.err = fmt.Errorf("the simulated store failed its check: %s", r.sim.Detail)
	}
	return r
}

// simOut is what sim.Run returned.
type simOut struct {
	res *sim.Result
	err error
}

// shellQuote quotes words for sh.
func shellQuote(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// awaitSpawned waits for the wrapper's pid file and the simulator's config,
// and returns the broker's process id and HTTP address.
func awaitSpawned(ctx context.Context, pidFile, config string, done chan simOut) (int, string, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		pid, addr, err := spawned(pidFile, config)
		if err == nil {
			return pid, addr, nil
		}
		if time.Now().After(deadline) {
			return 0, "", fmt.Errorf("the simulator's broker did not start within a minute: %w", err)
		}
		select {
		case <-ctx.Done():
			return 0, "", ctx.Err()
		case out := <-done:
			done <- out
			return 0, "", fmt.Errorf("the simulator ended before its broker started: %v", out.err)
		case <-time.After(20 * time.Millisecond): // polls for the files until the deadline
		}
	}
}

func spawned(pidFile, config string) (int, string, error) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, "", err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, "", fmt.Errorf("%s: %w", pidFile, err)
	}
	y, err := os.ReadFile(config)
	if err != nil {
		return 0, "", err
	}
	var c struct {
		Listeners struct {
			HTTP string `yaml:"http"`
		} `yaml:"listeners"`
	}
	if err := yaml.Unmarshal(y, &c); err != nil || c.Listeners.HTTP == "" {
		return 0, "", fmt.Errorf("%s: no listeners.http (%v)", config, err)
	}
	return pid, c.Listeners.HTTP, nil
}

// awaitReady polls /readyz until the broker answers 200.
func awaitReady(ctx context.Context, httpAddr string, pid int) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := hc.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if _, perr := readProc(pid); perr != nil {
			return fmt.Errorf("the broker exited before it was ready: %w", perr)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the broker was not ready within a minute (last: %v)", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond): // polls readiness until the deadline
		}
	}
}

// readProc samples the process: VmRSS, VmHWM, RssAnon and RssFile from
// /proc/PID/status, utime+stime from /proc/PID/stat.
func readProc(pid int) (procSample, error) {
	s := procSample{at: time.Now()}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	if s.rss, err = parseStatusBytes(st, "VmRSS"); err != nil {
		return s, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	if s.hwm, err = parseStatusBytes(st, "VmHWM"); err != nil {
		return s, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	if s.anon, err = parseStatusBytes(st, "RssAnon"); err != nil {
		return s, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	if s.file, err = parseStatusBytes(st, "RssFile"); err != nil {
		return s, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	if s.cpu, err = procCPUSeconds(pid); err != nil {
		return s, err
	}
	return s, nil
}

// brokerCounters are the broker's PUBLISH counters from /metrics, all QoS.
type brokerCounters struct{ received, sent float64 }

func scrapeCounters(httpAddr string) (brokerCounters, error) {
	var c brokerCounters
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return c, fmt.Errorf("the broker's /metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return c, fmt.Errorf("the broker's /metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("the broker's /metrics: %s", resp.Status)
	}
	for name, v := range parseMetrics(body, "storeedge_messages_") {
		switch {
		case strings.HasPrefix(name, "storeedge_messages_received_total"):
			c.received += v
		case strings.HasPrefix(name, "storeedge_messages_sent_total"):
			c.sent += v
		}
	}
	return c, nil
}

// printResources writes the table: one column per binary.
func printResources(w io.Writer, o resOptions, qemuVersion string, runs []*resRun) {
	video := "video on"
	if !o.video {
		video = "video off"
	}
	host, _ := os.Hostname()
	fmt.Fprintf(w, "\nstoreedge resource figures, %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "store day: %d devices (%d kiosks, %d chat tablets, %d cameras, %s, %d staff tablets), firmware-sim's store at -speed %g, %v measured per binary from readiness, fresh data_dir\n",
		o.devices(), o.kiosks, o.tablets, o.cameras, video, o.staff, o.speed, o.duration)
	fmt.Fprintf(w, "machine: %s, %d CPUs %s", host, runtime.NumCPU(), unameMachine())
	if qemuVersion != "" {
		fmt.Fprintf(w, ", %s", qemuVersion)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, f func(r *resRun) string) {
		fmt.Fprintf(tw, "%s\t", name)
		for _, r := range runs {
			if r.err != nil && len(r.samples) < 2 {
				fmt.Fprint(tw, "failed\t")
				continue
			}
			fmt.Fprintf(tw, "%s\t", f(r))
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintf(tw, "\t")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t", r.label)
	}
	fmt.Fprintln(tw)
	row("ready after exec, s", func(r *resRun) string { return fmt.Sprintf("%.1f", r.readyAfter.Seconds()) })
	row("RSS when ready, MB", func(r *resRun) string { return fmt.Sprintf("%.1f", mb(r.readyRSS)) })
	row("peak RSS (VmHWM), MB", func(r *resRun) string { return fmt.Sprintf("%.1f", mb(r.peakRSS())) })
	row("steady RSS (median VmRSS, 2nd half), MB", func(r *resRun) string {
		return fmt.Sprintf("%.1f", mb(r.steady(func(s procSample) int64 { return s.rss })))
	})
	row("  of it anonymous (RssAnon), MB", func(r *resRun) string {
		return fmt.Sprintf("%.1f", mb(r.steady(func(s procSample) int64 { return s.anon })))
	})
	row("  of it mapped files (RssFile), MB", func(r *resRun) string {
		return fmt.Sprintf("%.1f", mb(r.steady(func(s procSample) int64 { return s.file })))
	})
	row("publishes received (/metrics)", func(r *resRun) string { return fmt.Sprintf("%.0f", r.received) })
	row("publishes sent (/metrics)", func(r *resRun) string { return fmt.Sprintf("%.0f", r.sent) })
	row("messages/s (received)", func(r *resRun) string { return fmt.Sprintf("%.1f", r.received/r.window.Seconds()) })
	row("CPU s per 1 000 messages", func(r *resRun) string { return fmt.Sprintf("%.2f", 1000*r.cpu()/r.received) })
	row("CPU, % of one core", func(r *resRun) string { return fmt.Sprintf("%.1f", 100*r.cpu()/r.window.Seconds()) })
	row("simulator ops (errors)", func(r *resRun) string {
		if r.sim == nil {
			return "-"
		}
		errs := 0
		for _, op := range r.sim.Report.Ops {
			errs += op.Errors
		}
		total := 0
		for _, op := range r.sim.Report.Ops {
			total += op.Count
		}
		return fmt.Sprintf("%d (%d)", total, errs)
	})
	row("simulator's check", func(r *resRun) string {
		switch {
		case r.sim == nil:
			return "-"
		case r.sim.Pass:
			return "pass"
		}
		return "FAIL"
	})
	row("other processes' CPU, cores", func(r *resRun) string { return fmt.Sprintf("%.2f", r.others/r.window.Seconds()) })
	row("simulator's CPU, cores", func(r *resRun) string { return fmt.Sprintf("%.2f", r.simCPU/r.window.Seconds()) })
	row("load average at start", func(r *resRun) string { return r.load1 })
	tw.Flush()
	fmt.Fprintln(w, "messages: PUBLISH packets the broker received (storeedge_messages_received_total, all QoS), in the window.")
	fmt.Fprintln(w, "CPU: the broker process's utime+stime (/proc/PID/stat); RSS: VmRSS, VmHWM, RssAnon, RssFile (/proc/PID/status), sampled every second;")
	fmt.Fprintln(w, "mapped files are the binary and the database's pages the broker touched: the kernel can drop them under memory pressure.")
	if qemuVersion != "" {
		fmt.Fprintln(w, "under qemu the process is the emulator: its RSS includes the translator and its code cache, and its CPU is")
		fmt.Fprintln(w, "arm64 code translated to and run on this machine's cores: a pessimistic stand-in for a Raspberry Pi 4, not a measurement of one.")
	}
	fmt.Fprintln(w, "the simulator shares the machine (its CPU above); other processes' CPU is the machine's load from everyone else.")
}

// unameMachine is the machine's hardware name (x86_64, aarch64).
func unameMachine() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return runtime.GOARCH
	}
	var b strings.Builder
	for _, c := range u.Machine {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}
