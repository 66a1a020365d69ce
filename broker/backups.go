package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/backup"
	"github.com/storeedge/storeedge/broker/schema"
	"github.com/storeedge/storeedge/cloudsync/outbox"
	"github.com/storeedge/storeedge/cloudsync/topicmap"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/proto"
)

// BackupConfig configures backups (broker/backup): `storeedge backup` and
// the daily backups the daemon makes.
type BackupConfig struct {
	// Dir is where daily backups go ("" = data_dir/backups).
	Dir string `yaml:"dir"`
	// DailyAt is the time of day ("03:30") in the store's time zone.
	DailyAt string `yaml:"daily_at"`
	// KeepDays: daily backups older than this many days are deleted (the
	// keep_days newest are always kept).
	KeepDays int `yaml:"keep_days"`
	// PassphraseEnv names the environment variable holding the passphrase.
	PassphraseEnv string `yaml:"passphrase_env"`
	// Recipient is an age X25519 public key (age1…), e.g. HQ's.
	Recipient string `yaml:"recipient"`
	// ScryptWorkFactor is the passphrase's scrypt cost, 2^N (memory 2^N KiB).
	ScryptWorkFactor int `yaml:"scrypt_work_factor"`
	// Tick is how often the daemon looks whether a daily backup is due
	// (default 30s); tests shorten it. Not in the file.
	Tick time.Duration `yaml:"-"`
}

func (c BackupConfig) validate() error {
	var errs []error
	if _, _, err := backup.ParseAt(c.DailyAt); err != nil {
		errs = append(errs, fmt.Errorf("backup.daily_at: %w", err))
	}
	if c.KeepDays < 1 || c.KeepDays > 3650 {
		errs = append(errs, fmt.Errorf("backup.keep_days %d: from 1 to 3650", c.KeepDays))
	}
	if c.Recipient != "" {
		if err := backup.ParseRecipient(c.Recipient); err != nil {
			errs = append(errs, fmt.Errorf("backup.recipient: %w", err))
		}
	}
	if c.ScryptWorkFactor < 10 || c.ScryptWorkFactor > 22 {
		errs = append(errs, fmt.Errorf("backup.scrypt_work_factor %d: from 10 to 22 (16: 64 MiB)", c.ScryptWorkFactor))
	}
	return errors.Join(errs...)
}

// BackupDir is the folder of the daily backups.
func (c Config) BackupDir() string {
	if c.Backup.Dir != "" {
		return c.Backup.Dir
	}
	return filepath.Join(c.DataDir, "backups")
}

// BackupEncryption is what the daily backups are encrypted to: the
// passphrase in backup.passphrase_env's variable and backup.recipient.
func (c Config) BackupEncryption() backup.Encryption {
	e := backup.Encryption{WorkFactor: c.Backup.ScryptWorkFactor}
	if c.Backup.PassphraseEnv != "" {
		e.Passphrase = os.Getenv(c.Backup.PassphraseEnv)
	}
	if c.Backup.Recipient != "" {
		e.Recipients = []string{c.Backup.Recipient}
	}
	return e
}

// backups are the daily backups running in the daemon.
type backups struct {
	daily  *backup.Daily
	ctx    context.Context // cancelled at shutdown: ends running backups
	cancel context.CancelFunc
	done   chan struct{}
}

// startBackups starts the daily backups (or notes why they are off) and
// the context the admin socket's backups run in.
func (b *Broker) startBackups(ctx context.Context) error {
	cfg := b.cfg
	b.bk.ctx, b.bk.cancel = context.WithCancel(context.WithoutCancel(ctx))
	enc := cfg.BackupEncryption()
	off := ""
	if enc.Passphrase == "" && len(enc.Recipients) == 0 {
		off = "daily backups are off: neither the passphrase variable (backup.passphrase_env"
		if cfg.Backup.PassphraseEnv != "" {
			off += ", $" + cfg.Backup.PassphraseEnv
		}
		off += ") nor backup.recipient is set"
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	d, err := backup.NewDaily(backup.DailyOptions{
		Dir: cfg.BackupDir(), StoreID: cfg.StoreID, At: cfg.Backup.DailyAt, KeepDays: cfg.Backup.KeepDays, Off: off,
		Zone: b.storeZone, Now: now, Tick: cfg.Backup.Tick, Log: b.log,
		Write: func(ctx context.Context, w io.Writer) (*backup.Manifest, error) {
			src, err := b.backupSource()
			if err != nil {
				return nil, err
			}
			return backup.Write(ctx, w, src, cfg.BackupEncryption())
		},
	})
	if err != nil {
		return err
	}
	b.bk.daily = d
	if err := b.metrics.Register(d.Collector()); err != nil {
		return fmt.Errorf("backup metrics: %w", err)
	}
	if off != "" {
		b.log.Warn("backup: " + off + ": set the variable in the service's environment, or backup.recipient in store.yaml, to keep a daily backup")
		return nil
	}
	b.bk.done = make(chan struct{})
	go func() {
		defer close(b.bk.done)
		d.Run(b.bk.ctx)
	}()
	return nil
}

// stopBackups ends a running backup (its read transaction) before the
// database closes.
func (b *Broker) stopBackups() {
	if b.bk.cancel != nil {
		b.bk.cancel()
	}
	if b.bk.done != nil {
		<-b.bk.done
	}
}

// storeZone is the store's time zone: the business hours'.
func (b *Broker) storeZone() *time.Location {
	if b.svcs != nil && b.svcs.booking != nil {
		if h := b.svcs.booking.Hours(); h != nil {
			return h.Location()
		}
	}
	return time.Local
}

// backupHealth is the daily backups' state for svc/store/health.
func (b *Broker) backupHealth() *proto.BackupHealth {
	if b.bk.daily == nil {
		return nil
	}
	st := b.bk.daily.State()
	h := &proto.BackupHealth{Enabled: st.Enabled, Off: st.Off, Dir: st.Dir, Error: st.LastError, Kept: st.Kept, Bytes: st.Bytes}
	at := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		t = t.UTC()
		return &t
	}
	h.Last, h.LastOK = at(st.LastAttempt), at(st.LastOK)
	if st.Enabled {
		h.Next = at(st.Next)
	}
	return h
}

// BackupNow makes a daily backup at once (as the schedule would).
func (b *Broker) BackupNow(ctx context.Context) error {
	if b.bk.daily == nil {
		return errors.New("backups are not running")
	}
	return b.bk.daily.RunNow(ctx)
}

// backupSource is what the running daemon backs up.
func (b *Broker) backupSource() (backup.Source, error) {
	return backupSource(b.cfg, b.db.View)
}

func backupSource(cfg Config, view func(func(*bolt.Tx) error) error) (backup.Source, error) {
	spec, from, err := keySpec(cfg)
	if err != nil {
		return backup.Source{}, err
	}
	src := backup.Source{StoreID: cfg.StoreID, Software: softwareVersion(), View: view, Keys: spec, KeysFrom: from,
		ConfigBuiltIn: cfg.File == "", Now: cfg.Now, Schema: func(tx *bolt.Tx) int {
			v, err := schema.Version(tx)
			if err != nil {
				return 0 // unreadable: the manifest leaves it out; restore checks the database itself at start
			}
			return v
		}}
	add := func(role, path string) {
		if path != "" {
			src.Configs = append(src.Configs, backup.ConfigFile{Role: role, Path: path})
		}
	}
	add("store.yaml", cfg.File)
	add("auth.devices_file", cfg.Auth.DevicesFile)
	add("auth.acl_file", cfg.Auth.ACLFile)
	add("booking.services_file", cfg.Booking.ServicesFile)
	add("chat.faq_file", cfg.Chat.FAQFile)
	add("cloud.map_file", cfg.Cloud.MapFile)
	add("listeners.tls_cert_file", cfg.Listeners.TLSCertFile)
	add("listeners.tls_key_file", cfg.Listeners.TLSKeyFile)
	add("listeners.tls_client_ca_file", cfg.Listeners.TLSClientCAFile)
	add("cloud.ca_file", cfg.Cloud.CAFile)
	add("cloud.cert_file", cfg.Cloud.CertFile)
	add("cloud.key_file", cfg.Cloud.KeyFile)
	return src, nil
}

// keysPath is the seal keys file services.keys_file names.
func keysPath(cfg Config) string {
	if cfg.Services.KeysFile != "" {
		return cfg.Services.KeysFile
	}
	return filepath.Join(cfg.DataDir, "seal.keys")
}

// keySpec reads the seal keys as loadKeys does (the variable of
// services.keys_env when set, else the keys file), without making any.
func keySpec(cfg Config) (spec []byte, from string, err error) {
	if e := cfg.Services.KeysEnv; e != "" && os.Getenv(e) != "" {
		spec, from = []byte(os.Getenv(e)+"\n"), "$"+e
	} else {
		from = keysPath(cfg)
		if spec, err = os.ReadFile(from); err != nil {
			return nil, "", fmt.Errorf("the seal keys (services.keys_file) cannot be read: %w", err)
		}
	}
	if _, err := seal.ParseKeys(strings.TrimSpace(string(spec))); err != nil {
		return nil, "", fmt.Errorf("the seal keys in %s: %w", from, err)
	}
	return spec, from, nil
}

// The admin socket's backup op: after the answer line the daemon sends the
// archive in frames (4-byte big-endian length, then that many bytes), a
// frame of length 0 at the end, then one more JSON line: {"ok":true,
// "manifest":{…}} or {"ok":false,"error":"…"} when the backup failed on
// the way (the bytes sent are then not a backup).
const (
	adminFrameMax     = 1 << 20
	adminFrameTimeout = time.Minute
)

type frameWriter struct{ c net.Conn }

func (f frameWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), adminFrameMax)
		_ = f.c.SetWriteDeadline(time.Now().Add(adminFrameTimeout))
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(k))
		if _, err := f.c.Write(hdr[:]); err != nil {
			return n, err
		}
		w, err := f.c.Write(p[:k])
		n += w
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

// serveBackup answers the admin op backup on c.
func (b *Broker) serveBackup(c net.Conn, req adminRequest) {
	writeLine := func(a adminAnswer) {
		out, _ := json.Marshal(a)
		_ = c.SetWriteDeadline(time.Now().Add(adminFrameTimeout))
		_, _ = c.Write(append(out, '\n'))
	}
	enc := backup.Encryption{Passphrase: req.Passphrase, Recipients: req.Recipients, WorkFactor: b.cfg.Backup.ScryptWorkFactor}
	if enc.Passphrase == "" && len(enc.Recipients) == 0 {
		writeLine(adminAnswer{Error: backup.ErrNoKey.Error()})
		return
	}
	for _, r := range enc.Recipients {
		if err := backup.ParseRecipient(r); err != nil {
			writeLine(adminAnswer{Error: err.Error()})
			return
		}
	}
	src, err := b.backupSource()
	if err != nil {
		writeLine(adminAnswer{Error: err.Error()})
		return
	}
	writeLine(adminAnswer{OK: true})
	ctx, cancel := context.WithCancel(b.bk.ctx)
	defer cancel()
	m, err := backup.Write(ctx, frameWriter{c}, src, enc)
	_ = c.SetWriteDeadline(time.Now().Add(adminFrameTimeout))
	_, _ = c.Write([]byte{0, 0, 0, 0})
	if err != nil {
		b.log.Error("backup: a backup asked for on the box's shell failed", "error", err)
		writeLine(adminAnswer{Error: backup.Words(err, "the backup's file")})
		return
	}
	b.log.Info("backup: made for the box's shell", "db_tx", m.DBTx, "bytes", m.Bytes())
	writeLine(adminAnswer{OK: true, Manifest: m})
}

// Backup writes an encrypted backup of the store to w: through the running
// daemon's admin socket (it holds the database), or from the stopped
// store's database.
func Backup(ctx context.Context, cfg Config, w io.Writer, enc backup.Encryption) (*backup.Manifest, error) {
	if enc.WorkFactor == 0 {
		enc.WorkFactor = cfg.Backup.ScryptWorkFactor
	}
	if enc.Passphrase == "" && len(enc.Recipients) == 0 {
		return nil, backup.ErrNoKey
	}
	c, err := net.DialTimeout("unix", filepath.Join(cfg.DataDir, AdminSocket), 2*time.Second)
	if err == nil {
		defer c.Close()
		return backupThroughDaemon(ctx, c, w, enc)
	}
	if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ECONNREFUSED) {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	path := filepath.Join(cfg.DataDir, DBFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no store database to back up: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%s is locked by a daemon whose admin socket does not answer", path)
	}
	if err != nil {
		return nil, err
	}
	defer db.Close()
	src, err := backupSource(cfg, db.View)
	if err != nil {
		return nil, err
	}
	return backup.Write(ctx, w, src, enc)
}

func backupThroughDaemon(ctx context.Context, c net.Conn, w io.Writer, enc backup.Encryption) (*backup.Manifest, error) {
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	_ = c.SetDeadline(time.Now().Add(adminFrameTimeout))
	req, _ := json.Marshal(adminRequest{Op: "backup", Passphrase: enc.Passphrase, Recipients: enc.Recipients})
	if _, err := c.Write(append(req, '\n')); err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	br := bufio.NewReader(c)
	readAnswer := func() (adminAnswer, error) {
		var a adminAnswer
		line, err := br.ReadBytes('\n')
		if err != nil {
			return a, fmt.Errorf("admin socket: no answer from the daemon: %w", err)
		}
		if err := json.Unmarshal(line, &a); err != nil {
			return a, fmt.Errorf("admin socket: %w", err)
		}
		return a, nil
	}
	a, err := readAnswer()
	if err != nil {
		return nil, err
	}
	if !a.OK {
		return nil, errors.New(a.Error)
	}
	var hdr [4]byte
	for {
		_ = c.SetReadDeadline(time.Now().Add(adminFrameTimeout))
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil, fmt.Errorf("admin socket: the daemon stopped sending the backup: %w", errors.Join(ctx.Err(), err))
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 {
			break
		}
		if n > adminFrameMax {
			return nil, fmt.Errorf("admin socket: a frame of %d bytes", n)
		}
		if _, err := io.CopyN(w, br, int64(n)); err != nil {
			return nil, fmt.Errorf("backup: %w", errors.Join(ctx.Err(), err))
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(adminFrameTimeout))
	if a, err = readAnswer(); err != nil {
		return nil, err
	}
	if !a.OK {
		return nil, fmt.Errorf("the daemon could not make the backup: %s", a.Error)
	}
	if a.Manifest == nil {
		return nil, errors.New("admin socket: the daemon sent no manifest")
	}
	return a.Manifest, nil
}

// Restored is what Restore did.
type Restored struct {
	Manifest *backup.Manifest
	// Keys is where the seal keys were written ("" when the variable of
	// services.keys_env already holds them).
	Keys string
	// ConfigOut is where the config files were written ("" = not written).
	ConfigOut string
	// Epoch is the outbox's new epoch.
	Epoch string
}

// ErrNotEmpty is returned by Restore for a data_dir that holds anything.
var ErrNotEmpty = errors.New("data_dir is not empty")

// Restore restores the backup in file into cfg's data_dir, which must be
// empty or missing. key opens it. The archive is read and checked whole
// before anything is written. configOut, when not "", receives the
// backup's config files (never overwriting one). The restored database's
// outbox starts a new epoch, so HQ tells this box's entries from those
// the old box sent after the backup.
func Restore(ctx context.Context, cfg Config, file string, key backup.Key, configOut string) (*Restored, error) {
	dir := cfg.DataDir
	if err := checkEmpty(dir); err != nil {
		return nil, err
	}
	open := func() (*os.File, error) {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("open the backup: %w", err)
		}
		return f, nil
	}
	f, err := open()
	if err != nil {
		return nil, err
	}
	c, err := backup.Verify(ctx, bufio.NewReaderSize(f, 1<<20), key)
	f.Close()
	if err != nil {
		return nil, err
	}
	res := &Restored{Manifest: c.Manifest, Keys: keysPath(cfg), ConfigOut: configOut}
	// Where the keys go: the variable of services.keys_env, when set, must
	// hold the backup's keys; a keys file outside data_dir is never
	// overwritten with others.
	archiveKeys := strings.TrimSpace(string(c.Keys))
	if e := cfg.Services.KeysEnv; e != "" && os.Getenv(e) != "" {
		if strings.TrimSpace(os.Getenv(e)) != archiveKeys {
			return nil, fmt.Errorf("$%s (services.keys_env) holds other seal keys than the backup's, and the restored data opens only with the backup's: unset it, and the backup's keys are written to %s", e, res.Keys)
		}
		res.Keys = ""
	} else if old, err := os.ReadFile(res.Keys); err == nil {
		if strings.TrimSpace(string(old)) != archiveKeys {
			return nil, fmt.Errorf("the keys file %s (services.keys_file) exists and holds other seal keys than the backup's: move it aside first", res.Keys)
		}
		res.Keys = ""
	}
	if configOut != "" {
		if err := os.MkdirAll(configOut, 0o700); err != nil {
			return nil, fmt.Errorf("-config-out: %w", err)
		}
		for _, m := range c.Manifest.Configs() {
			p := filepath.Join(configOut, backup.ConfigName(m))
			if _, err := os.Lstat(p); err == nil {
				return nil, fmt.Errorf("-config-out: %s exists already; name an empty folder", p)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data_dir: %w", err)
	}
	if f, err = open(); err != nil {
		return nil, err
	}
	dbPath := filepath.Join(dir, DBFile)
	_, err = backup.Extract(ctx, bufio.NewReaderSize(f, 1<<20), key, backup.Targets{DB: dbPath, Keys: res.Keys, ConfigDir: configOut})
	f.Close()
	if err != nil {
		return nil, err
	}
	undo := func() {
		_ = os.Remove(dbPath)
		if res.Keys != "" {
			_ = os.Remove(res.Keys)
		}
	}
	keys, err := seal.ParseKeys(archiveKeys)
	if err == nil {
		res.Epoch, err = newEpoch(dbPath, keys)
	}
	if err == nil {
		err = ownLikeDir(dir, dbPath, res.Keys)
	}
	if err != nil {
		undo()
		return nil, fmt.Errorf("restore: %w", err)
	}
	return res, nil
}

// newEpoch starts the restored outbox's new epoch (cloudsync/outbox,
// "Epochs"). The topic map only satisfies outbox.New: NewEpoch files
// nothing.
func newEpoch(dbPath string, keys *seal.Keyring) (string, error) {
	m, err := topicmap.Parse(configs.Cloud)
	if err != nil {
		return "", err
	}
	ob, err := outbox.New(outbox.Options{Classify: m.Class, Seal: keys})
	if err != nil {
		return "", err
	}
	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return "", fmt.Errorf("open the restored database: %w", err)
	}
	var ep outbox.EpochInfo
	err = db.Update(func(tx *bolt.Tx) (err error) { ep, err = ob.NewEpoch(tx); return err })
	if err = errors.Join(err, db.Close()); err != nil {
		return "", fmt.Errorf("new outbox epoch: %w", err)
	}
	return ep.ID, nil
}

// ownLikeDir gives restored files the owner of data_dir when restore runs
// as root (the daemon runs as its own user).
func ownLikeDir(dir string, files ...string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	for _, f := range files {
		if f == "" || !strings.HasPrefix(f, dir+string(filepath.Separator)) {
			continue
		}
		if err := os.Lchown(f, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	return nil
}

// checkEmpty refuses a data_dir that holds anything.
func checkEmpty(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("data_dir %s: %w", dir, err)
	}
	if len(ents) == 0 {
		return nil
	}
	var names []string
	for i, e := range ents {
		if i == 3 {
			names = append(names, fmt.Sprintf("and %d more", len(ents)-3))
			break
		}
		names = append(names, e.Name())
	}
	return fmt.Errorf("%w: %s holds %s. A restore goes only into an empty or missing folder, so that nothing there is overwritten: stop storeedge, move the folder aside (mv %s %s.old) and restore again",
		ErrNotEmpty, dir, strings.Join(names, ", "), dir, dir)
}
