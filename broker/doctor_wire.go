package broker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/accounts"
	"github.com/storeedge/storeedge/broker/backup"
	"github.com/storeedge/storeedge/broker/doctor"
	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/services/booking"
	"github.com/storeedge/storeedge/broker/services/chat/faq"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/cloudsync/topicmap"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/strictyaml"
	"github.com/storeedge/storeedge/internal/timesync"
	"github.com/storeedge/storeedge/proto"
)

// doctorAdminTimeout bounds the admin socket's doctor op: the database
// check reads every page of the database, which takes a while on a big one
// on an SD card.
const doctorAdminTimeout = 5 * time.Minute

// doctorState is storeedge doctor inside the daemon: the health op's
// checks (reused for doctor.health_cache) and the database check, run at
// most every doctor.database_check_every in the background.
type doctorState struct {
	// health is the svc/store/health handler; the admin socket's doctor
	// op calls it for fresh checks (with the backups' state it adds).
	health svc.Handler

	mu     sync.Mutex
	checks []proto.HealthCheck
	at     time.Time
	// refusing is the store's write refusal when checks were made: a
	// change makes them stale at once (the disk filled or got room).
	refusing string
	db       *proto.HealthCheck // the last database check, nil before the first
	dbAt     time.Time
	dbDone   chan struct{} // non-nil while a database check runs
}

// errCheckOnly rolls back the database check's transaction.
var errCheckOnly = errors.New("database check: nothing to commit")

// doctorFresh marks a context whose health answer must have fresh checks,
// an HQ probe included: the admin socket's doctor op.
type doctorFresh struct{}

// doctorChecks are the checks of the health op: reused for
// doctor.health_cache unless ctx asks for fresh ones.
func (b *Broker) doctorChecks(ctx context.Context, bridge *cloudsync.Bridge, backup *proto.BackupHealth) []proto.HealthCheck {
	d := &b.doc
	fresh := ctx.Value(doctorFresh{}) != nil
	if !fresh {
		d.mu.Lock()
		if d.checks != nil && time.Since(d.at) < b.cfg.Doctor.HealthCache && d.refusing == b.db.Refusing() {
			out := append([]proto.HealthCheck(nil), d.checks...)
			d.mu.Unlock()
			return out
		}
		d.mu.Unlock()
	}
	c := b.cfg
	var st *cloudsync.Status
	if bridge != nil {
		s := bridge.Status()
		st = &s
	}
	dataDir := existingDir(c.DataDir)
	checks := []proto.HealthCheck{
		b.configCheck(),
		b.databaseCheck(ctx, fresh),
		b.keysCheck(),
		doctor.Disk(dataDir, doctorWithFloor(c)),
		doctor.Inodes(dataDir, c.Doctor),
		doctor.Certificate(c.Listeners.TLSCertFile, c.Listeners.TLSKeyFile, time.Now(), c.Doctor),
		doctor.HQ(ctx, doctor.HQLink{Cloud: c.Cloud, ClientID: cloudClientID(c), Status: st, Probe: fresh, Timeout: c.Doctor.HQTimeout}),
		b.clockCheck(),
		doctor.Backup(backup, b.now()),
	}
	d.mu.Lock()
	d.checks, d.at, d.refusing = checks, time.Now(), b.db.Refusing()
	d.mu.Unlock()
	return append([]proto.HealthCheck(nil), checks...)
}

func (b *Broker) now() time.Time {
	if b.cfg.Now != nil {
		return b.cfg.Now()
	}
	return time.Now()
}

// configCheck reads the configuration file the daemon started from again,
// and the files it names: what the next start would find.
func (b *Broker) configCheck() proto.HealthCheck {
	c, err := b.cfg, error(nil)
	if c.File != "" {
		c, err = LoadConfig(c.File)
	}
	if err == nil {
		err = checkFiles(c)
	}
	return doctor.ConfigFile(b.cfg.File, err)
}

// databaseCheck is the last result of the database check, with its time.
// A check older than doctor.database_check_every starts a new one; wait
// waits for it (the doctor op), else the last result (or "running") is
// returned at once.
func (b *Broker) databaseCheck(ctx context.Context, wait bool) proto.HealthCheck {
	d := &b.doc
	d.mu.Lock()
	if d.db != nil && time.Since(d.dbAt) < b.cfg.Doctor.DatabaseEvery {
		c := d.lastDB()
		d.mu.Unlock()
		return c
	}
	if d.dbDone == nil {
		done := make(chan struct{})
		d.dbDone = done
		go func() {
			defer close(done)
			var c proto.HealthCheck
			// bbolt's check is sound beside other writers only in a
			// writable transaction (a read one races the freelist and
			// finds pages "unreachable" that a commit is freeing). The
			// store commits UpdateFree writes alone: the others wait for
			// the check, which is why it runs only now and then. It
			// changes nothing and is rolled back.
			err := b.db.UpdateFree(context.Background(), func(tx *bolt.Tx) error {
				c = doctor.Database(tx)
				return errCheckOnly
			})
			if err != nil && !errors.Is(err, errCheckOnly) {
				c = doctor.DatabaseUnreadable(b.db.Path(), err)
			}
			d.mu.Lock()
			d.db, d.dbAt, d.dbDone = &c, time.Now(), nil
			d.mu.Unlock()
		}()
	}
	done := d.dbDone
	if !wait {
		defer d.mu.Unlock()
		if d.db != nil {
			return d.lastDB()
		}
		return doctor.DatabaseRunning()
	}
	d.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return doctor.DatabaseRunning()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastDB()
}

// lastDB is the last database check with its time; d.mu is held.
func (d *doctorState) lastDB() proto.HealthCheck {
	c := *d.db
	at := d.dbAt.UTC()
	c.Checked = &at
	return c
}

// keysCheck opens a sample sealed record with the daemon's keys.
func (b *Broker) keysCheck() proto.HealthCheck {
	var sealed, ad []byte
	var found bool
	if err := b.db.View(func(tx *bolt.Tx) error {
		sealed, ad, found = accounts.SampleSealed(tx)
		return nil
	}); err != nil {
		return doctor.DatabaseUnreadable(b.db.Path(), err)
	}
	return doctor.Keys(b.keys, nil, sealed, ad, found)
}

// doctorAnswer is the admin socket's doctor op: the health op's checks,
// fresh, with an HQ probe when the link is down.
func (b *Broker) doctorAnswer(ctx context.Context) ([]proto.HealthCheck, error) {
	if b.doc.health == nil {
		return nil, errors.New("the daemon's checks are not ready yet")
	}
	res, err := b.doc.health(context.WithValue(ctx, doctorFresh{}, true), nil)
	if err != nil {
		return nil, err
	}
	a, ok := res.(healthAnswer)
	if !ok {
		return nil, fmt.Errorf("store health: unexpected answer %T", res)
	}
	return a.Checks, nil
}

// Doctor runs storeedge doctor's checks for the configuration file path
// ("" = the built-in one): the file itself and those it names, then the
// running daemon's checks through its admin socket, or, when it is
// stopped, the same checks on the store's files (the database opened read
// only). The error is for a doctor that could not run at all.
func Doctor(ctx context.Context, path string) ([]proto.HealthCheck, error) {
	cfg, err := LoadConfig(path)
	loaded := err == nil
	if loaded {
		err = checkFiles(cfg)
	}
	first := doctor.ConfigFile(path, err)
	if !loaded {
		out := []proto.HealthCheck{first}
		for _, n := range doctor.Names[1:] {
			if n == "clock" {
				out = append(out, doctor.Clock(timesync.Kernel()))
				continue
			}
			out = append(out, doctor.NotChecked(n))
		}
		return out, nil
	}
	ans, running, err := callAdminFor(cfg.DataDir, adminRequest{Op: "doctor"}, doctorAdminTimeout)
	if errors.Is(err, fs.ErrPermission) {
		return nil, fmt.Errorf("%w: run storeedge doctor as root or as the daemon's user", err)
	}
	if err != nil {
		return nil, err
	}
	if running {
		if !ans.OK {
			return nil, fmt.Errorf("the running storeedge: %s", ans.Error)
		}
		out := []proto.HealthCheck{first}
		for _, c := range ans.Checks {
			if c.Name != "config" { // this file, as given here, rather than the daemon's
				out = append(out, c)
			}
		}
		return out, nil
	}
	return append([]proto.HealthCheck{first}, stoppedChecks(ctx, cfg)...), nil
}

// stoppedChecks are the checks of a stopped store, config excepted.
func stoppedChecks(ctx context.Context, cfg Config) []proto.HealthCheck {
	dbc, kc := stoppedDatabase(cfg)
	dataDir := existingDir(cfg.DataDir)
	return []proto.HealthCheck{
		dbc, kc,
		doctor.Disk(dataDir, doctorWithFloor(cfg)),
		doctor.Inodes(dataDir, cfg.Doctor),
		doctor.Certificate(cfg.Listeners.TLSCertFile, cfg.Listeners.TLSKeyFile, time.Now(), cfg.Doctor),
		doctor.HQ(ctx, doctor.HQLink{Cloud: cfg.Cloud, ClientID: cloudClientID(cfg), Probe: true, Timeout: cfg.Doctor.HQTimeout}),
		doctor.Clock(timesync.Kernel()),
		stoppedBackup(cfg, time.Now()),
	}
}

// stoppedBackup reads a stopped store's backup folder: its newest daily
// backup says as much as the daemon would. With none there, and neither
// a recipient nor the passphrase's variable in this shell (the service's
// environment file may hold it), only the daemon knows whether backups
// are on.
func stoppedBackup(cfg Config, now time.Time) proto.HealthCheck {
	files, err := backup.ListDaily(cfg.BackupDir(), cfg.StoreID)
	enc := cfg.BackupEncryption()
	if err != nil || (len(files) == 0 && enc.Passphrase == "" && len(enc.Recipients) == 0) {
		return doctor.BackupStopped()
	}
	h := &proto.BackupHealth{Enabled: true, Dir: cfg.BackupDir(), Kept: len(files)}
	if n := len(files); n > 0 {
		made := files[n-1].Made
		h.LastOK, h.Bytes = &made, files[n-1].Bytes
	}
	return doctor.Backup(h, now)
}

// stoppedDatabase checks a stopped store's database (read only) and opens
// a sample record with its keys, read without making new ones.
func stoppedDatabase(cfg Config) (dbc, kc proto.HealthCheck) {
	path := filepath.Join(cfg.DataDir, DBFile)
	keys, keysErr := readKeys(cfg)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return doctor.DatabaseMissing(cfg.DataDir), doctor.Keys(keys, keysErr, nil, nil, false)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		return doctor.DatabaseUnreadable(path, err), doctor.KeysNoDatabase()
	}
	defer db.Close()
	var sealed, ad []byte
	var found bool
	err = db.View(func(tx *bolt.Tx) (err error) {
		// A damaged page can make bbolt panic where the check does not
		// catch it; it is a damaged database, said as such.
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("reading it failed: %v", r)
			}
		}()
		dbc = doctor.Database(tx)
		sealed, ad, found = accounts.SampleSealed(tx)
		return nil
	})
	if err != nil {
		return doctor.DatabaseUnreadable(path, err), doctor.KeysNoDatabase()
	}
	return dbc, doctor.Keys(keys, keysErr, sealed, ad, found)
}

// readKeys loads the sealing keys as the daemon would, but never makes a
// new key file.
func readKeys(cfg Config) (*seal.Keyring, error) {
	c := cfg.Services
	if c.KeysEnv != "" && os.Getenv(c.KeysEnv) != "" {
		k, err := seal.FromEnv(c.KeysEnv)
		if err != nil {
			return nil, fmt.Errorf("services.keys_env %s: %w", c.KeysEnv, err)
		}
		return k, nil
	}
	if c.KeysFile == "" {
		c.KeysFile = filepath.Join(cfg.DataDir, "seal.keys")
	}
	b, err := os.ReadFile(c.KeysFile)
	if err != nil {
		return nil, fmt.Errorf("services.keys_file: %w", err)
	}
	k, err := seal.ParseKeys(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("services.keys_file %s: %w", c.KeysFile, err)
	}
	return k, nil
}

// checkFiles reads the files cfg names as Start does: the device registry
// and the ACL, the FAQ, the services and, when linked, the cloud map. A
// mistake names its file by path, its line and key.
func checkFiles(cfg Config) error {
	b := &Broker{cfg: cfg}
	devices, acl, err := b.readAuthFiles()
	if err != nil {
		return err
	}
	if devices != nil {
		_, err = auth.ParseDevices(devices, acl)
	} else {
		err = auth.CheckAccounts(acl, nil)
	}
	if err != nil {
		return b.nameAuthFiles(err)
	}
	faqYAML := configs.FAQ
	if p := cfg.Chat.FAQFile; p != "" {
		if faqYAML, err = os.ReadFile(p); err != nil {
			return fmt.Errorf("chat.faq_file: %w", err)
		}
	}
	assistant, err := faq.Load(faqYAML)
	if err != nil {
		return strictyaml.InFile(err, cfg.Chat.FAQFile)
	}
	servicesYAML := configs.Services
	if p := cfg.Booking.ServicesFile; p != "" {
		if servicesYAML, err = os.ReadFile(p); err != nil {
			return fmt.Errorf("booking.services_file: %w", err)
		}
	}
	if _, err := booking.LoadCatalog(servicesYAML, assistant.Hours()); err != nil {
		return strictyaml.InFile(err, cfg.Booking.ServicesFile)
	}
	if c := cfg.Cloud; c.Enabled() {
		mapYAML := configs.Cloud
		if c.MapFile != "" {
			if mapYAML, err = os.ReadFile(c.MapFile); err != nil {
				return fmt.Errorf("cloud.map_file: %w", err)
			}
		}
		if _, err := topicmap.Parse(mapYAML); err != nil {
			return strictyaml.InFile(err, c.MapFile)
		}
		if _, err := cloudsync.ParseUplink(mapYAML); err != nil {
			return strictyaml.InFile(err, c.MapFile)
		}
	}
	return nil
}

// cloudClientID is the bridge's client id on HQ's broker.
func cloudClientID(cfg Config) string {
	if cfg.Cloud.ClientID != "" {
		return cfg.Cloud.ClientID
	}
	return "store-" + cfg.StoreID
}

// existingDir is dir, or its nearest parent that exists (a data_dir not
// made yet is on its parent's disk).
func existingDir(dir string) string {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || d == filepath.Dir(d) {
			return d
		}
	}
}

// clockCheck is the clock as the daemon's watcher last read it (the source
// the daemon runs on: the kernel, or a test's), else the kernel's word.
func (b *Broker) clockCheck() proto.HealthCheck {
	if b.clock != nil {
		return doctor.Clock(b.clock.Status())
	}
	return doctor.Clock(timesync.Kernel())
}

// doctorWithFloor is the doctor's settings with the free space the store
// keeps (below it writes are refused, and the disk check fails).
func doctorWithFloor(c Config) doctor.Config {
	d := c.Doctor
	d.MinFreeBytes = c.Persistence.MinFreeDiskBytes
	return d
}
