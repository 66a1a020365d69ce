// Package broker wires the store daemon together: the mochi MQTT server, its
// listeners, the auth, session and metrics hooks, the bbolt store, the
// services, the link to HQ and the HTTP endpoints. Messages from HQ come in
// one way only: cloudsync hands each to deliverFromHQ (cloud.go), which
// passes it to its service. cmd/storeedge only parses flags and signals and
// calls it.
package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/mqtt/listener"
	"github.com/storeedge/storeedge/broker/mqtt/metrics"
	"github.com/storeedge/storeedge/broker/mqtt/mochifix"
	"github.com/storeedge/storeedge/broker/mqtt/mochisafe"
	"github.com/storeedge/storeedge/broker/mqtt/session"
	"github.com/storeedge/storeedge/broker/mqtt/typing"
	"github.com/storeedge/storeedge/broker/setup"
	"github.com/storeedge/storeedge/broker/store"
	"github.com/storeedge/storeedge/broker/web"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/strictyaml"
	"github.com/storeedge/storeedge/internal/timesync"
)

// RedeemPath is where the customer page redeems a scan-to-chat token (HTTP POST).
const RedeemPath = "/chat/redeem"

// DBFile is the database file name inside data_dir.
const DBFile = "storeedge.db"

// Addrs are the addresses the broker actually listens on ("" when off).
type Addrs struct {
	TCP, Websocket, TLS, HTTP string
}

// Broker is a running store broker.
type Broker struct {
	cfg     Config
	log     *slog.Logger
	db      *store.DB
	srv     *mqtt.Server
	auth    *auth.Hook
	typing  *typing.Hook // chat/{conversation}/typing: members only, stamped, QoS 0
	acc     accountsParts
	metrics *metrics.Metrics
	// keys seal personal data at rest: the services' records, the session
	// store's queued and retained messages and the outbox for HQ.
	keys  *seal.Keyring
	addrs Addrs
	// raw are the TCP and TLS sockets, closed first on shutdown so that no
	// client connects while the others are being disconnected.
	raw []net.Listener
	// guards accept every MQTT listener's connections; /readyz checks them.
	guards  []*listener.Guard
	pending *listener.Pending
	netm    netMetrics

	svcs  *services
	cloud *cloudLink
	// clock watches whether the box's clock is set (clock.go).
	clock     *timesync.Watcher
	stopClock func()
	// setup is the first run (firstrun.go); setupCode its one-time code,
	// "" when none is needed.
	setup     *setup.Setup
	setupCode string
	// schema is the database's schema version (migrate.go).
	schema atomic.Int64
	// bk are the daily backups and the admin socket's (backups.go).
	bk backups
	// doc is storeedge doctor in the daemon (doctor_wire.go).
	doc doctorState

	ready    atomic.Bool
	stopHTTP context.CancelFunc
	httpDone <-chan error
	stopOnce sync.Once
	stopErr  error
}

// Start opens the store, restores the sessions and starts every listener. The
// broker runs until Shutdown.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data_dir: %w", err)
	}
	b := &Broker{cfg: cfg, log: log}
	if err := b.start(ctx); err != nil {
		b.abort()
		return nil, err
	}
	b.ready.Store(true)
	return b, nil
}

func (b *Broker) start(ctx context.Context) error {
	cfg := b.cfg
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClients = cfg.Limits.MaxConnections
	caps.MaximumPacketSize = cfg.Limits.MaxPacketSize
	caps.ReceiveMaximum = cfg.Limits.ReceiveMaximum
	caps.MaximumClientWriteBytes = cfg.Limits.SendBufferBytes
	caps.TopicAliasMaximum = cfg.Limits.TopicAliasMaximum
	if cfg.Limits.MaxPendingWrites != 0 {
		b.log.Warn("limits.max_pending_writes is no longer used: the send buffer is limits.send_buffer_bytes")
	}
	caps.MaximumSessionExpiryInterval = cfg.Limits.MaxSessionExpiry
	// A connected client holding this many QoS 1/2 messages is disconnected
	// with 0x97; the session hook bounds an offline persistent session's
	// queue at the same number. (The client's own QoS 2 handshakes are kept
	// apart and do not count.)
	caps.MaximumInflight = uint16(cfg.Limits.MaxQueuedMessages)
	// Messages without an expiry never expire: a tablet may be away for days
	// and its queue must wait for it. mochi's default would delete them after
	// 24 h (and uses the creation time for it; the session hook needs that
	// field to keep resend order).
	caps.MaximumMessageExpiryInterval = 0
	b.srv = mqtt.New(&mqtt.Options{
		Capabilities:           caps,
		InlineClient:           true,
		Logger:                 slog.New(quietHandler{b.log.Handler()}),
		SysTopicResendInterval: 10,
		ConnectTimeout:         cfg.Limits.ConnectTimeout,
		MaximumConnectSize:     cfg.Limits.maxConnectBytes(),
		SlowClientGrace:        cfg.Limits.SlowClientGrace,
		// Packets queued for a client are written in chunks of up to this
		// size (one syscall each) while a backlog lasts; mochi's 2 KiB
		// made a fan-out's writers fall behind their readers.
		ClientNetWriteBufferSize: 32 << 10,
	})
	b.metrics = metrics.New(b.srv)
	if err := b.registerNetMetrics(); err != nil {
		return err
	}
	if err := b.startClock(); err != nil {
		return err
	}
	b.pending = listener.NewPending(listener.PendingOptions{
		Max:           cfg.Limits.MaxPendingConnects,
		MaxPerAddress: cfg.Limits.MaxPendingConnectsPerAddress,
		OnRefused:     func(l, scope string) { b.netm.pendingRefused.WithLabelValues(l, scope).Inc() },
		Log:           b.log,
	})

	var err error
	b.db, err = store.Open(store.Options{
		Path:     filepath.Join(cfg.DataDir, DBFile),
		MaxBatch: cfg.Persistence.MaxBatch,
		MaxSize:  cfg.Persistence.MaxDBBytes,
		OnCommit: b.metrics.ObserveCommit,

		MinFreeBytes: cfg.Persistence.MinFreeDiskBytes,
	})
	if err != nil {
		return err
	}
	b.metrics.SetStoreSize(b.db.Size)
	b.checkDBCap()
	if err := b.migrate(ctx); err != nil {
		return err
	}

	devices, acl, err := b.readAuthFiles()
	if err != nil {
		return err
	}
	if cfg.Auth.AllowAnonymous {
		b.log.Warn("ANONYMOUS ACCESS IS ON: clients without credentials connect with the role "+cfg.Auth.AnonymousRole+"; use this only in a lab", "role", cfg.Auth.AnonymousRole)
	}
	b.auth, err = auth.NewHook(auth.Options{
		Server:               b.srv,
		ACL:                  acl,
		OnLogin:              b.seen,
		AllowAnonymous:       cfg.Auth.AllowAnonymous,
		AnonymousRole:        cfg.Auth.AnonymousRole,
		ConnectRatePerMinute: cfg.Limits.ConnectRatePerMinute,
		Log:                  b.log,

		PasswordWorkers:           cfg.Auth.PasswordWorkers,
		LoginBackoffAfter:         cfg.Auth.LoginBackoffAfter,
		LoginBackoffMax:           cfg.Auth.LoginBackoffMax,
		OnLoginBackoff:            b.netm.loginBackoff.Inc,
		MaxConnectionsPerIdentity: cfg.Limits.MaxConnectionsPerIdentity,
		MaxConnectionsPerCustomer: cfg.Limits.MaxConnectionsPerCustomer,
		ReservedConnections:       cfg.Limits.reservedConnections(),
		ReservedRoles:             cfg.Limits.ReservedRoles,
	})
	if err != nil {
		return fmt.Errorf("auth: %w", b.nameAuthFiles(err))
	}
	keys, where, err := loadKeys(cfg.Services, cfg.DataDir)
	if err != nil {
		return err
	}
	b.keys = keys
	b.log.Info("sealing personal data at rest", "keys_from", where, "current_key", keys.Current())
	if err := b.openAccounts(ctx, devices, acl); err != nil {
		return err
	}
	sess, err := session.New(session.Options{
		DB:                b.db,
		Seal:              keys,
		Server:            b.srv,
		CanRead:           b.auth.CanRead,
		MaxQueued:         cfg.Limits.MaxQueuedMessages,
		MaxSessionExpiry:  cfg.Limits.MaxSessionExpiry,
		OnQueueDropped:    b.metrics.IncQueueDropped,
		OnPublishRejected: b.metrics.IncPublishRejected,
		Log:               b.log,
	})
	if err != nil {
		return err
	}
	bridge, err := b.newCloud()
	if err != nil {
		return err
	}
	b.typing = typing.New(b.srv, b.auth)
	hooks := []mqtt.Hook{&loggedIn{pending: b.pending}, b.auth, &mochifix.Hook{MaxPacket: cfg.Limits.MaxPacketSize, MaxKeepalive: cfg.Limits.MaxKeepalive, Log: b.log}, b.typing, sess, b.metrics.Hook()}
	if bridge != nil {
		hooks = append(hooks, &cloudCapture{bridge: bridge})
	}
	for _, h := range hooks {
		if err := b.srv.AddHook(h, nil); err != nil {
			return fmt.Errorf("add hook %s: %w", h.ID(), err)
		}
	}
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if err := b.startServices(ctx, bridge); err != nil {
		return err
	}
	if err := b.startSetup(ctx); err != nil {
		return err
	}
	if err := b.startBackups(ctx); err != nil {
		return err
	}
	if err := b.startAdminSocket(); err != nil {
		return err
	}
	if bridge != nil {
		b.startCloud(ctx, bridge)
	}
	// Devices are let in only now: a request that arrived before the
	// services subscribed to svc/# would be acknowledged and never
	// answered, and a device reconnecting the moment the broker restarts
	// sends at once.
	if err := b.addListeners(); err != nil {
		return err
	}
	if cfg.Listeners.HTTP != "" {
		hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		b.stopHTTP = cancel
		var h http.Handler = web.New(web.Options{
			Metrics: b.metrics.Handler(),
			Ready:   b.readyErr,
			Log:     b.log,
			Routes:  b.webRoutes(),
			Assets:  web.Assets(),
			Client:  b.clientConfig(),
		})
		if cfg.Listeners.HTTPDebug {
			h = withProfiler(h)
		}
		addr, done, err := web.Serve(hctx, cfg.Listeners.HTTP, h, b.log)
		if err != nil {
			return fmt.Errorf("http listener: %w", err)
		}
		b.addrs.HTTP, b.httpDone = addr.String(), done
		b.printSetup()
	}
	return nil
}

func (b *Broker) addListeners() error {
	l := b.cfg.Listeners
	if l.TCP != "" {
		ln, err := net.Listen("tcp", l.TCP)
		if err != nil {
			return fmt.Errorf("tcp listener: %w", err)
		}
		if err := b.listen(listeners.NewNet("tcp", b.guard("tcp", ln))); err != nil {
			return fmt.Errorf("tcp listener: %w", err)
		}
		b.addrs.TCP = ln.Addr().String()
		b.raw = append(b.raw, ln)
	}
	var tlsCfg *tls.Config
	if l.TLSCertFile != "" {
		var err error
		if tlsCfg, err = loadTLS(l); err != nil {
			return err
		}
		if l.TLS != "" {
			raw, err := net.Listen("tcp", l.TLS)
			if err != nil {
				return fmt.Errorf("tls listener: %w", err)
			}
			ln := tls.NewListener(b.guard("tls", raw), tlsCfg)
			if err := b.listen(listeners.NewNet("tls", ln)); err != nil {
				return fmt.Errorf("tls listener: %w", err)
			}
			b.addrs.TLS = ln.Addr().String()
			b.raw = append(b.raw, ln)
		}
	}
	if l.Websocket != "" {
		ws := listener.NewWebsocket("ws", l.Websocket, l.WebsocketPath, l.WebsocketOrigins, nil)
		ws.SetMaxMessageSize(int64(b.cfg.Limits.MaxPacketSize))
		ws.SetWrap(func(ln net.Listener) net.Listener { return b.guard("ws", ln) })
		if err := b.listen(ws); err != nil {
			return fmt.Errorf("websocket listener: %w", err)
		}
		b.addrs.Websocket = ws.Address()
	}
	return nil
}

// listen adds a listener to the running server and serves it.
func (b *Broker) listen(l listeners.Listener) error {
	if err := b.srv.AddListener(l); err != nil {
		return err
	}
	b.srv.Listeners.Serve(l.ID(), b.srv.EstablishConnection)
	return nil
}

func loadTLS(l ListenersConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(l.TLSCertFile, l.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls certificate: %w", err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if l.TLSClientCAFile != "" {
		pem, err := os.ReadFile(l.TLSClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls client CA %s: no PEM certificate in it", l.TLSClientCAFile)
		}
		// Certificates are optional (devices may use passwords) but verified
		// when presented.
		c.ClientCAs = pool
		c.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return c, nil
}

// readAuthFiles reads the device registry file and the ACL. devices is nil
// when the file does not exist (the registry in the database is then left
// as it is).
func (b *Broker) readAuthFiles() (devices, acl []byte, err error) {
	if p := b.cfg.Auth.DevicesFile; p != "" {
		d, err := os.ReadFile(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, nil, fmt.Errorf("read devices file: %w", err)
		default:
			devices = d
		}
	}
	acl = configs.ACL
	if p := b.cfg.Auth.ACLFile; p != "" {
		if acl, err = os.ReadFile(p); err != nil {
			return nil, nil, fmt.Errorf("read acl file: %w", err)
		}
	}
	return devices, acl, nil
}

// nameAuthFiles names the file of a mistake in the device registry or the
// ACL (auth knows them as devices.yaml and acl.yaml) by the path it was read
// from, and returns that mistake alone, without auth's prefixes.
func (b *Broker) nameAuthFiles(err error) error {
	var e *strictyaml.Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.File {
	case "devices.yaml":
		return strictyaml.InFile(e, b.cfg.Auth.DevicesFile)
	case "acl.yaml":
		return strictyaml.InFile(e, b.cfg.Auth.ACLFile)
	}
	return e
}

// Reload re-reads the device registry and the ACL (SIGHUP). Connections stay
// up; a bad file changes nothing and the error says why.
func (b *Broker) Reload() error {
	devices, acl, err := b.readAuthFiles()
	if err != nil {
		return err
	}
	if err := b.reloadAccounts(devices, acl); err != nil {
		return fmt.Errorf("reload: %w", b.nameAuthFiles(err))
	}
	b.log.Info("reloaded device registry and ACL")
	return nil
}

// withProfiler serves Go's profiler under /debug/pprof/ beside h.
func withProfiler(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", h)
	return mux
}

// Addrs returns where the broker listens.
func (b *Broker) Addrs() Addrs { return b.addrs }

// Server exposes the MQTT server to the services wired beside it.
func (b *Broker) Server() *mqtt.Server { return b.srv }

func (b *Broker) readyErr() error {
	if !b.ready.Load() {
		return errors.New("not ready: starting or shutting down")
	}
	// Every MQTT listener must accept connections: one that cannot (the
	// process out of file descriptors) is retried, and readiness says so.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var errs []error
	for _, g := range b.guards {
		if err := g.Check(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("not ready: %w", errors.Join(errs...))
	}
	return nil
}

// guard wraps a listener's socket so that its accept loop survives
// failures that pass and sockets not logged in stay within their bounds.
func (b *Broker) guard(id string, ln net.Listener) *listener.Guard {
	g := listener.NewGuard(ln, listener.GuardOptions{
		ID:            id,
		Pending:       b.pending,
		OnAcceptError: func(l string) { b.netm.acceptErrors.WithLabelValues(l).Inc() },
		Log:           b.log,
	})
	b.guards = append(b.guards, g)
	return g
}

// Shutdown stops accepting connections, disconnects every client (their Last
// Wills are delivered), commits what is queued and closes the database.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.stopOnce.Do(func() {
		b.ready.Store(false)
		if b.cloud != nil {
			// First: it hands HQ's messages to the services.
			b.cloud.stop()
		}
		if b.svcs != nil {
			// Before the database closes: handlers write to it.
			b.svcs.stop()
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, g := range b.guards {
				_ = g.Close()
			}
			for _, ln := range b.raw {
				_ = ln.Close()
			}
			if b.pending != nil {
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				if err := b.pending.CloseAll(pctx); err != nil {
					b.log.Warn("shutdown: closing connections that have not logged in", "error", err)
				}
				cancel()
			}
			_ = mochisafe.Close(b.srv)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			b.stopErr = fmt.Errorf("shutdown: clients still connected: %w", ctx.Err())
		}
		if b.stopHTTP != nil {
			b.stopHTTP()
			<-b.httpDone
		}
		b.closeAdminSocket()
		b.stopBackups()
		if b.stopClock != nil {
			b.stopClock()
		}
		if err := b.db.Close(); err != nil && b.stopErr == nil {
			b.stopErr = err
		}
	})
	return b.stopErr
}

// abort releases what a failed start opened.
func (b *Broker) abort() {
	if b.cloud != nil {
		b.cloud.stop()
	}
	if b.svcs != nil {
		b.svcs.stop()
	}
	if b.srv != nil {
		_ = mochisafe.Close(b.srv)
	}
	if b.stopHTTP != nil {
		b.stopHTTP()
	}
	b.closeAdminSocket()
	b.stopBackups()
	if b.stopClock != nil {
		b.stopClock()
	}
	if b.db != nil {
		_ = b.db.Close()
	}
}

// clientConfig tells the pages where MQTT over WebSocket listens: the port
// actually bound (a ":0" in the config is a real port here), 0 when the
// WebSocket listener is off.
func (b *Broker) clientConfig() *web.ClientConfig {
	c := &web.ClientConfig{Store: b.cfg.StoreID, NameFunc: func() string { return b.svcs.settings.Name(b.cfg.StoreID) },
		ConsoleSessionTTL: int(b.cfg.Accounts.ConsoleSessionTTL / time.Second)}
	if _, p, err := net.SplitHostPort(b.addrs.Websocket); err == nil {
		c.MQTT.WSPort, _ = strconv.Atoi(p) // a port SplitHostPort found is a number
		c.MQTT.WSPath = b.cfg.Listeners.WebsocketPath
	}
	return c
}
