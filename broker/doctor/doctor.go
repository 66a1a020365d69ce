// Package doctor checks a store box the way a technician would, and says
// what it finds in people's words: the configuration files, the database's
// integrity (bbolt's consistency check), that the sealing keys open the
// store's records, disk and inode headroom, the TLS certificate's expiry,
// whether HQ can be reached, whether the clock is set, and the backups.
//
// Each check gives a severity (ok, warn, fail), a stable code, a detail
// and what to do. The words of each code are in one table (words) with
// {placeholders} filled from the check's Args, so the staff console, which
// has the same table in English and Chinese, says the same thing as
// `storeedge doctor` on the box's shell.
//
// The checks take what they examine as arguments (a read transaction, a
// keyring and a sample record, a directory, a status): the broker package
// gathers those from the running daemon or from a stopped store's files.
package doctor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/storeedge/storeedge/proto"
)

// Severities, from best to worst.
const (
	OK   = "ok"
	Warn = "warn"
	Fail = "fail"
)

// Names of the checks, in the order they run and are shown.
var Names = []string{"config", "database", "keys", "disk", "inodes", "certificate", "hq", "clock", "backup"}

// Check is one check's result (proto.HealthCheck, also in svc/store/health).
type Check = proto.HealthCheck

// Config is the doctor: section of store.yaml.
type Config struct {
	// DiskWarnPercent and DiskFailPercent: the share of data_dir's disk in
	// use at which the disk check warns and fails.
	DiskWarnPercent int `yaml:"disk_warn_percent"`
	DiskFailPercent int `yaml:"disk_fail_percent"`
	// InodeWarnPercent: the share of the file system's inodes in use at
	// which the inodes check warns.
	InodeWarnPercent int `yaml:"inode_warn_percent"`
	// CertWarnDays: the certificate check warns this many days before the
	// TLS listener's certificate expires.
	CertWarnDays int `yaml:"cert_warn_days"`
	// HQTimeout bounds the whole reach of HQ's broker (TCP, TLS, CONNECT).
	HQTimeout time.Duration `yaml:"hq_timeout"`
	// DatabaseEvery: the daemon runs the database check at most this often
	// (it reads every page); the health op reports the last result.
	DatabaseEvery time.Duration `yaml:"database_check_every"`
	// HealthCache: the health op's checks are reused for this long.
	HealthCache time.Duration `yaml:"health_cache"`

	// MinFreeBytes is the free space below which the store refuses writes
	// (persistence.min_free_disk_bytes; the broker sets it, not the file).
	MinFreeBytes int64 `yaml:"-"`
}

// Validate reports the settings that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.DiskWarnPercent < 1 || c.DiskFailPercent > 100 || c.DiskWarnPercent >= c.DiskFailPercent {
		errs = append(errs, fmt.Errorf("doctor.disk_warn_percent %d, disk_fail_percent %d: 1 to 100, the warning below the failure", c.DiskWarnPercent, c.DiskFailPercent))
	}
	if c.InodeWarnPercent < 1 || c.InodeWarnPercent > 100 {
		errs = append(errs, fmt.Errorf("doctor.inode_warn_percent %d: 1 to 100", c.InodeWarnPercent))
	}
	if c.CertWarnDays < 0 || c.CertWarnDays > 365 {
		errs = append(errs, fmt.Errorf("doctor.cert_warn_days %d: 0 to 365", c.CertWarnDays))
	}
	if c.HQTimeout < time.Second || c.HQTimeout > 2*time.Minute {
		errs = append(errs, fmt.Errorf("doctor.hq_timeout %s: 1s to 2m", c.HQTimeout))
	}
	if c.DatabaseEvery < time.Minute {
		errs = append(errs, fmt.Errorf("doctor.database_check_every %s: at least 1m", c.DatabaseEvery))
	}
	if c.HealthCache < 0 || c.HealthCache > time.Minute {
		errs = append(errs, fmt.Errorf("doctor.health_cache %s: 0 to 1m", c.HealthCache))
	}
	return errors.Join(errs...)
}

// word is what a code says: its detail, and for a warning or failure what
// to do. {name} is replaced by the check's Args[name].
type word struct{ detail, advice string }

// words are the English words of every code. The console has the same
// table (broker/web/static/console/console.js, DOCTOR_WORDS) in English and
// Chinese; a test keeps the two in step.
var words = map[string]word{
	"config_ok":       {"{file} and the files it names (device registry, ACL, services, FAQ) have no mistake.", ""},
	"config_builtin":  {"No configuration file: the built-in configuration is in force.", ""},
	"config_invalid":  {"A configuration file has a mistake: {error}", "Correct the line named here, then run storeedge doctor again. storeedge reads these files when it starts: with this mistake it will not start again."},
	"config_first":    {"Not checked: the configuration must load first.", "Correct the configuration (see config), then run storeedge doctor again."},
	"database_ok":     {"bbolt's consistency check found no problem in the database ({size}).", ""},
	"database_new":    {"There is no database in {dir} yet: storeedge has not run with this data_dir.", "Check data_dir in the configuration; storeedge makes the database when it first starts."},
	"database_wait":   {"The consistency check of the database is running; its result shows here when it ends.", ""},
	"database_bad":    {"bbolt's consistency check found {count} problems in the database: {error}", "Stop storeedge, copy data_dir somewhere safe, then restore the last backup into an empty data_dir (storeedge restore FILE). Ask support before deleting anything."},
	"database_open":   {"The database {path} cannot be opened: {error}", "Stop storeedge, copy data_dir somewhere safe, then restore the last backup into an empty data_dir (storeedge restore FILE). Ask support before deleting anything."},
	"database_locked": {"The database {path} is held by a storeedge whose admin socket does not answer.", "Restart storeedge (systemctl restart storeedge), then run storeedge doctor again."},
	"keys_nodb":       {"Not checked: the database could not be read (see database).", "Repair the database first (see database)."},
	"keys_ok":         {"The sealing keys open the store's records (current key {key}).", ""},
	"keys_unused":     {"No sealed record yet to try the sealing keys on.", ""},
	"keys_wrong":      {"The sealing keys do not open the store's records: {error}", "Put back the keys this database was sealed with (services.keys_file, by default seal.keys in data_dir, or the variable services.keys_env names), e.g. from a backup: other keys cannot read these records."},
	"keys_missing":    {"The database holds sealed records, but the sealing keys cannot be read: {error}", "Put back the keys this database was sealed with (services.keys_file, by default seal.keys in data_dir, or the variable services.keys_env names), e.g. from a backup: other keys cannot read these records."},
	"disk_ok":         {"{used}% of the disk of {dir} is in use; {free} free.", ""},
	"disk_low":        {"{used}% of the disk of {dir} is in use (warning at {warn}%); {free} free.", "Make room: delete old photos and clips in the console, remove other files on this disk, or move data_dir to a larger card. When the disk is full, new photos and messages are refused."},
	"disk_full":       {"{used}% of the disk of {dir} is in use (limit {fail}%); only {free} free.", "Make room now: delete old photos and clips in the console, remove other files on this disk, or move data_dir to a larger card. When the disk is full, new photos and messages are refused."},
	"disk_floor":      {"Only {free} free on the disk of {dir}: less than the {floor} storeedge keeps free, so new messages, bookings and photos are refused until there is room.", "Make room now: delete old photos and clips in the console, remove other files on this disk, or move data_dir to a larger card. Saving starts again by itself."},
	"disk_unknown":    {"The disk of {dir} cannot be read: {error}", "Check that data_dir exists and that storeedge's user may read it."},
	"inodes_ok":       {"{used}% of the file entries (inodes) of the disk of {dir} are in use.", ""},
	"inodes_none":     {"The file system of {dir} has no fixed number of file entries (inodes).", ""},
	"inodes_low":      {"{used}% of the file entries (inodes) of the disk of {dir} are in use (warning at {warn}%).", "Many small files can fill a disk's table of files while space is left: remove stray files (old logs, temporary files) on this disk."},
	"cert_none":       {"No TLS listener: there is no certificate to check.", ""},
	"cert_ok":         {"The TLS certificate {file} is valid until {until} ({days} days).", ""},
	"cert_soon":       {"The TLS certificate {file} expires on {until}, in {days} days.", "Renew it before then: put the new certificate and key where listeners.tls_cert_file and tls_key_file point and restart storeedge."},
	"cert_expired":    {"The TLS certificate {file} expired on {until}: devices that use TLS cannot connect.", "Renew it now: put the new certificate and key where listeners.tls_cert_file and tls_key_file point and restart storeedge."},
	"cert_early":      {"The TLS certificate {file} is valid only from {from}: the certificate or the box's clock is wrong.", "Check the box's clock (see clock) and the certificate's dates."},
	"cert_bad":        {"The TLS certificate cannot be used: {error}", "Check listeners.tls_cert_file and tls_key_file: a PEM certificate and its private key, readable by storeedge's user."},
	"hq_off":          {"Not linked to HQ (cloud.url is empty): the store works on its own.", ""},
	"hq_connected":    {"Connected to HQ since {since}; {backlog} entries wait to be sent.", ""},
	"hq_reachable":    {"HQ's broker at {url} accepted the store's login ({ms} ms).", ""},
	"hq_down":         {"Not connected to HQ since {since} ({error}); {backlog} entries wait and are sent when the link returns.", "Check the store's internet connection; storeedge reconnects by itself. storeedge doctor on the box's shell says why HQ cannot be reached."},
	"hq_unreachable":  {"HQ's broker at {url} cannot be reached: {error}", "Check the store's internet connection and cloud.url. The store keeps working, and sends what waits when HQ can be reached."},
	"hq_tls":          {"The secure connection to HQ's broker at {url} failed: {error}", "Check cloud.ca_file, cloud.server_name, the store's certificate (cloud.cert_file, key_file) and the box's clock."},
	"hq_refused":      {"HQ's broker at {url} refused the store's login: {error}", "Check cloud.username and the password (cloud.password_env, or cloud.password) with HQ."},
	"clock_synced":    {"The clock is set from a time source (NTP).", ""},
	"clock_unsynced":  {"The clock has not been set from a time source since the box started: its time may be wrong.", "Check that the box reaches an NTP server (timedatectl status; systemd-timesyncd or chrony). Until then, what the store sends to HQ is marked as made before the clock was set."},
	"clock_unknown":   {"The kernel does not say whether the clock is set: {error}", "Check the clock with timedatectl status."},
	"backup_off":      {"Backups are not set up.", "Set backup.passphrase_env or backup.recipient in store.yaml (see README) and restart storeedge; until then, make one by hand with storeedge backup FILE."},
	"backup_none":     {"No backup has been made yet.", "The first daily backup runs at backup.daily_at; make one now with storeedge backup FILE."},
	"backup_failed":   {"The last backup failed: {error}", "Check the backup folder's disk and the backup settings; make one by hand with storeedge backup FILE to see why."},
	"backup_old":      {"The last backup that worked is from {last}, {hours} hours ago.", "Check that storeedge runs at backup.daily_at and that the backup folder has room; make one now with storeedge backup FILE."},
	"backup_stopped":  {"Not known while storeedge is stopped: the daemon keeps the backups' state.", "Start storeedge and run storeedge doctor again to see the backups."},
	"backup_ok":       {"The last backup was made {last}; {kept} backups are kept.", ""},
}

// Codes lists every code, sorted: the console's table must have each.
func Codes() []string {
	out := make([]string, 0, len(words))
	for c := range words {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// timeArgs are the Args holding a time (RFC 3339): the console shows them
// on the store's clock, the shell in the box's zone.
var timeArgs = map[string]bool{"since": true, "until": true, "from": true, "last": true}

// mk builds a check from its code's words.
func mk(name, severity, code string, args map[string]string) Check {
	w, ok := words[code]
	if !ok {
		w = word{detail: code, advice: code} // every code is in the table; a test says so
	}
	fill := func(s string) string {
		for k, v := range args {
			if timeArgs[k] {
				if t, err := time.Parse(time.RFC3339, v); err == nil {
					v = t.Local().Format("2006-01-02 15:04 MST")
				}
			}
			s = strings.ReplaceAll(s, "{"+k+"}", v)
		}
		return s
	}
	c := Check{Name: name, Severity: severity, Code: code, Detail: fill(w.detail), Args: args}
	if severity != OK {
		c.Advice = fill(w.advice)
	}
	return c
}

// rank orders severities.
func rank(s string) int {
	switch s {
	case OK:
		return 0
	case Warn:
		return 1
	default:
		return 2
	}
}

// Worst is the worst severity among checks (ok when there are none).
func Worst(checks []Check) string {
	w := OK
	for _, c := range checks {
		if rank(c.Severity) > rank(w) {
			w = c.Severity
		}
	}
	return w
}

// Exit codes of storeedge doctor.
const (
	ExitOK      = 0 // every check ok
	ExitWarn    = 1 // a warning
	ExitFail    = 2 // a failure
	ExitCouldNt = 3 // doctor itself could not run
)

// ExitCode is storeedge doctor's exit status for checks.
func ExitCode(checks []Check) int {
	return rank(Worst(checks))
}

// Report is storeedge doctor --json.
type Report struct {
	Checks   []Check `json:"checks"`
	Severity string  `json:"severity"`
}

// WriteJSON writes checks as storeedge doctor --json does.
func WriteJSON(w io.Writer, checks []Check) error {
	if checks == nil {
		checks = []Check{}
	}
	b, err := json.MarshalIndent(Report{Checks: checks, Severity: Worst(checks)}, "", "  ")
	if err != nil {
		return fmt.Errorf("doctor: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// marks are the shell's signs of each severity.
var marks = map[string]string{OK: "✓", Warn: "!", Fail: "✗"}

// WriteText writes checks for a person: one line each with ✓, ! or ✗,
// then what to do about each warning and failure, then the sum.
func WriteText(w io.Writer, checks []Check) error {
	var b strings.Builder
	for _, c := range checks {
		detail := c.Detail
		if c.Checked != nil {
			detail += " (checked " + c.Checked.Local().Format("2006-01-02 15:04") + ")"
		}
		fmt.Fprintf(&b, "%s %-12s %s\n", marks[c.Severity], c.Name, indent(detail, 15))
	}
	var todo []Check
	warns, fails := 0, 0
	for _, c := range checks {
		switch c.Severity {
		case Warn:
			warns++
		case Fail:
			fails++
		}
		if c.Severity != OK && c.Advice != "" {
			todo = append(todo, c)
		}
	}
	if len(todo) > 0 {
		b.WriteString("\nWhat to do:\n")
		for _, c := range todo {
			fmt.Fprintf(&b, "  %s %s: %s\n", marks[c.Severity], c.Name, indent(c.Advice, 4))
		}
	}
	switch {
	case fails+warns == 0:
		b.WriteString("\nAll checks passed.\n")
	default:
		fmt.Fprintf(&b, "\n%s, %s.\n", plural(fails, "failure"), plural(warns, "warning"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// indent continues a multi-line text under its first line.
func indent(s string, n int) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+strings.Repeat(" ", n))
}

// Words are the English words of code, with their {placeholders}.
func Words(code string) (detail, advice string, ok bool) {
	w, ok := words[code]
	return w.detail, w.advice, ok
}
