package broker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/audit"
	"github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/mqtt/auth/customer"
	"github.com/storeedge/storeedge/broker/quota"
	"github.com/storeedge/storeedge/broker/services/booking"
	"github.com/storeedge/storeedge/broker/services/camera"
	"github.com/storeedge/storeedge/broker/services/chat"
	"github.com/storeedge/storeedge/broker/services/chat/faq"
	"github.com/storeedge/storeedge/broker/services/chat/faqstore"
	"github.com/storeedge/storeedge/broker/services/customers"
	"github.com/storeedge/storeedge/broker/services/hqlink"
	mediasvc "github.com/storeedge/storeedge/broker/services/media"
	"github.com/storeedge/storeedge/broker/services/notices"
	"github.com/storeedge/storeedge/broker/settings"
	"github.com/storeedge/storeedge/broker/setup"
	"github.com/storeedge/storeedge/broker/store"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/strictyaml"

	_ "time/tzdata" // business hours name a time zone; the box may have no zoneinfo
)

// services are the request/answer services running inside the broker.
type services struct {
	router    *svc.Router
	chat      *chat.Service
	media     *blob.Store
	mediaSvc  *mediasvc.Service
	customers *customer.Store
	faq       *faqstore.Store
	settings  *settings.Store
	counter   *setup.Counter
	booking   *booking.Desk
	camera    *camera.Service
	audit     *audit.Log
	hq        *hqlink.Link
	notices   *notices.Service
	cancel    context.CancelFunc
	done      chan struct{}
}

// startServices builds the svc router, the media store and service, the
// scan-to-chat customer store and the chat service, connects them to the
// auth hook (customer logins, %m membership) and starts them.
func (b *Broker) startServices(ctx context.Context, bridge *cloudsync.Bridge) error {
	cfg := b.cfg
	keys := b.keys
	var err error

	faqYAML := configs.FAQ
	if cfg.Chat.FAQFile != "" {
		if faqYAML, err = os.ReadFile(cfg.Chat.FAQFile); err != nil {
			return fmt.Errorf("chat.faq_file: %w", err)
		}
	}
	// The FAQ admins edit lives in the database; the file (or the
	// embedded default) is used until the first save. cs is set below,
	// before any save can happen (saves come from requests).
	var cs *chat.Service
	var desk *booking.Desk // the hours' source, set below before any save
	// What the store does for HQ beside chat and bookings: the shop filed
	// with every change (its sources are wired below, before the first
	// change), config pushes, media on demand.
	hq, err := hqlink.New(withHQOutbox(hqlink.Options{DB: b.db, MaxMediaBytes: hqMaxMediaBytes, Now: cfg.Now, Log: b.log}, bridge))
	if err != nil {
		return err
	}
	faqs, err := faqstore.Open(faqstore.Options{DB: b.db, Default: faqYAML, Now: cfg.Now, ShopInfo: hq, Apply: func(a *faq.Assistant) {
		a.UseHours(desk, cfg.Now) // a saved FAQ answers the catalogue's hours too
		cs.SetAssistant(a)
	}})
	if err != nil {
		var se *strictyaml.Error
		if errors.As(err, &se) {
			return fmt.Errorf("chat.faq_file: %w", strictyaml.InFile(se, cfg.Chat.FAQFile))
		}
		return fmt.Errorf("chat: %w", err)
	}
	assistant := faqs.Assistant()
	sets, err := settings.New(b.db, cfg.Now)
	if err != nil {
		return err
	}

	chunk := fitChunk(cfg.Media.ChunkBytes, cfg.Limits.MaxPacketSize)
	if chunk != cfg.Media.ChunkBytes {
		b.log.Warn("media: chunk_bytes lowered so that a chunk request fits limits.max_packet_size",
			"chunk_bytes", cfg.Media.ChunkBytes, "now", chunk, "max_packet_size", cfg.Limits.MaxPacketSize)
	}
	ms, err := blob.New(blob.Options{DB: b.db, Seal: keys, Now: cfg.Now, UploadTTL: cfg.Media.UploadTTL, UploadIdle: cfg.Media.UploadIdleTimeout, Limits: blob.Limits{
		AllowedTypes:             cfg.Media.AllowedTypes,
		MaxBytes:                 cfg.Media.MaxBytes,
		DefaultMaxBytes:          cfg.Media.DefaultMaxBytes,
		ChunkBytes:               chunk,
		MaxTotalBytes:            cfg.Media.MaxTotalBytes,
		MaxUploadsPerOwner:       cfg.Media.MaxUploads,
		CustomerMaxUploads:       cfg.Media.CustomerMaxUploads,
		CustomerMaxReservedBytes: cfg.Media.CustomerMaxReservedBytes,
		StaffReserveBytes:        cfg.Media.StaffReserveBytes,
	}})
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	if cfg.Chat.CustomerSessionTTL != 0 {
		b.log.Warn("chat.customer_session_ttl is the older name of chat.customer_login_ttl; rename it in store.yaml",
			"customer_session_ttl", cfg.Chat.CustomerSessionTTL)
	}
	custs, err := customer.New(customer.Options{DB: b.db, PublicURL: cfg.Chat.PublicURL, TokenTTL: cfg.Chat.TokenTTL,
		SessionTTL: cfg.Chat.LoginTTL(), MaxActiveTokens: cfg.Chat.MaxActiveTokens, PresenceTTL: cfg.Chat.PresenceTTL, Now: cfg.Now})
	if err != nil {
		return fmt.Errorf("scan-to-chat: %w", err)
	}
	counter, err := setup.NewCounter(setup.CounterOptions{Logins: custs, PublicURL: cfg.Chat.PublicURL,
		Name: func() string { return sets.Name(cfg.StoreID) }, PerAddressPerHour: cfg.Setup.CounterStartsPerAddress,
		PerMinute: cfg.Setup.CounterStartsPerMinute, Now: cfg.Now, Log: b.log})
	if err != nil {
		return fmt.Errorf("counter QR: %w", err)
	}
	router, err := svc.New(svc.Options{
		Server:          b.srv,
		DB:              b.db,
		Identify:        b.auth.Identity,
		Workers:         cfg.Services.Workers,
		QueueSize:       cfg.Services.QueueSize,
		MaxRequestBytes: max(svc.DefaultMaxRequestBytes, mediasvc.RequestBytesFor(chunk)),
		AnswerTTL:       cfg.Services.AnswerTTL,
		HandlerTimeout:  cfg.Services.HandlerTimeout,
		Seal:            keys,
		Log:             b.log,
	})
	if err != nil {
		return fmt.Errorf("services: %w", err)
	}
	custMsgs, custBytes := customerQuotas(cfg, b.log)
	cs, err = chat.New(withChatOutbox(chat.Options{
		DB: b.db, Router: router, Seal: keys, Media: ms, Assistant: assistant, Tokens: custs,
		RecallWindow: cfg.Chat.RecallWindow, MaxBodyBytes: cfg.Chat.MaxBodyBytes, PageSize: cfg.Chat.PageSize,
		MaxMembers: cfg.Chat.MaxMembers, StaffRoles: cfg.Chat.StaffRoles, AssignedOnlyRoles: cfg.Chat.AssignedOnlyRoles,
		SessionRoles: cfg.Chat.SessionRoles, ResumeRoles: cfg.Chat.ResumeRoles, Now: cfg.Now, Log: b.log,
		CustomerMessages: custMsgs, CustomerBytes: custBytes,
		MaxRatingComment: cfg.Chat.MaxRatingComment, MaxReportDays: cfg.Chat.MaxReportDays,
		SearchBudget: cfg.Chat.SearchBudget, SearchResults: cfg.Chat.SearchResults, MaxNotes: cfg.Chat.MaxNotes, Labels: cfg.Chat.Labels,
		Colleagues: b.acc.reg, TransferTimeout: cfg.Chat.TransferTimeout,
	}, bridge))
	if err != nil {
		return err
	}
	if n, err := cs.SealOldTitles(ctx); err != nil {
		return err
	} else if n > 0 {
		b.log.Info("chat: group titles stored in the clear by an older version are sealed now", "groups", n)
	}
	auditLog, err := audit.New(withAuditOutbox(audit.Options{DB: b.db, Seal: keys, Router: router, Now: cfg.Now,
		Keep: cfg.Audit.Keep, Roles: cfg.Audit.Roles, PageSize: cfg.Audit.PageSize, Log: b.log}, bridge))
	if err != nil {
		return err
	}
	b.acc.reg.SetAuditor(auditLog) // staff and devices added, reset, revoked
	if err := auditLog.Register(); err != nil {
		return err
	}
	servicesYAML := configs.Services
	if cfg.Booking.ServicesFile != "" {
		if servicesYAML, err = os.ReadFile(cfg.Booking.ServicesFile); err != nil {
			return fmt.Errorf("booking.services_file: %w", err)
		}
	}
	catalog, err := booking.LoadCatalog(servicesYAML, assistant.Hours())
	if err != nil {
		return fmt.Errorf("booking.services_file: %w", strictyaml.InFile(err, cfg.Booking.ServicesFile))
	}
	bk := cfg.Booking
	desk, err = booking.New(withBookingOutbox(booking.Options{
		DB: b.db, Router: router, Seal: keys, Catalog: catalog, Chat: cs, Now: cfg.Now, Tick: bk.Tick,
		MaxNotesBytes: bk.MaxNotesBytes, MaxProfiles: bk.MaxProfiles, ChangesKept: bk.ChangesKept, SurveyLate: bk.SurveyLate,
		Alternatives: bk.Alternatives, PageSize: bk.PageSize, StaffRoles: bk.StaffRoles, DeskRoles: bk.DeskRoles,
		ProgressRoles: bk.ProgressRoles, FeedRoles: bk.FeedRoles, Presence: custs, Auditor: auditLog, Log: b.log,
		AdminRoles: bk.AdminRoles, MaxClosures: bk.MaxClosures, ShopInfo: hq,
	}, bridge))
	if err != nil {
		return err
	}
	if err := b.metrics.Register(scheduleCollector{desk}); err != nil {
		return fmt.Errorf("booking metrics: %w", err)
	}
	hq.Use(desk, faqs, b.acc.reg, ms)
	// The store's name goes to HQ with the shop, and again when the owner
	// renames the store.
	hq.UseNames(sets)
	sets.OnSave(hq.FileShopInfo)
	hq.SetAuditor(auditLog)
	b.acc.reg.SetShopInfo(hq)
	if err := b.metrics.Register(hqCollector{hq}); err != nil {
		return err
	}
	// The catalogue, hours and closures live in the database (seeded from
	// the file); the assistant's hours answer and after-hours reply follow them.
	if err := desk.OpenShop(ctx); err != nil {
		return err
	}
	assistant.UseHours(desk, cfg.Now)
	cs.SetPrices(desk)
	if err := desk.Register(); err != nil {
		return err
	}
	if n, err := desk.SealOldNotes(ctx); err != nil {
		return err
	} else if n > 0 {
		b.log.Info("booking: progress notes stored in the clear by an older version are sealed now", "bookings", n)
	}
	// Continue at home: the store vouches for its customers to HQ, and
	// "forget me" ends her logins there.
	home, err := b.newHome(router, bridge, cs)
	if err != nil {
		return fmt.Errorf("home: %w", err)
	}
	cust, err := customers.New(customers.Options{DB: b.db, Router: router, Seal: keys, Logins: custs, Bookings: desk, Chat: cs, Home: home,
		StaffRoles: cfg.Booking.StaffRoles, MaxNotesBytes: cfg.Customers.MaxNotesBytes, MaxTags: cfg.Customers.MaxTags,
		MaxNames: cfg.Customers.MaxNames, Auditor: auditLog, Now: cfg.Now, Log: b.log})
	if err != nil {
		return err
	}
	if err := cust.Register(); err != nil {
		return err
	}
	home.UseNames(cust) // her name on her card goes with the vouch
	msvc, err := mediasvc.New(mediasvc.Options{Router: router, Media: ms, CanFetch: cs.CanFetch, StaffRoles: cfg.Chat.StaffRoles,
		CustomerBytes: custBytes, Log: b.log})
	if err != nil {
		return err
	}
	if err := b.metrics.Register(quotaCollector{limiters: []*quota.Limiter{custMsgs, custBytes}, media: msvc}); err != nil {
		return err
	}
	if err := b.metrics.Register(customerCollector{custs}); err != nil {
		return err
	}
	if err := cs.Register(); err != nil {
		return err
	}
	if err := msvc.Register(); err != nil {
		return err
	}
	cam, err := newCameraService(cfg, b, router, desk, ms, cameraOutbox(b.db, bridge))
	if err != nil {
		return err
	}
	if err := cam.Register(); err != nil {
		return err
	}
	if err := b.registerHealth(router, ms, bridge, cfg.Booking.StaffRoles); err != nil {
		return err
	}
	if err := faqs.Register(faqstore.OpsOptions{Router: router, Roles: cfg.Chat.FAQRoles, Now: cfg.Now, Auditor: auditLog, Log: b.log}); err != nil {
		return err
	}
	if err := b.registerAccounts(router); err != nil {
		return err
	}
	// HQ's notices: kept, acknowledged to HQ, listed for staff.
	hqNotices, err := b.newNotices(router, bridge)
	if err != nil {
		return fmt.Errorf("notices: %w", err)
	}
	if err := b.auth.SetCustomers(custs); err != nil {
		// A custom ACL without the customer role: the store runs, only
		// scan-to-chat logins are off. Say so once, loudly.
		b.log.Warn("scan-to-chat logins are OFF: the ACL has no role "+cfg.Chat.CustomerRole, "err", err)
	}
	b.auth.SetMembership(cs)
	b.typing.SetMembership(cs)
	b.auth.SetMembershipUnder("camera", cam)

	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.svcs = &services{router: router, chat: cs, media: ms, mediaSvc: msvc, customers: custs, faq: faqs, settings: sets, counter: counter, booking: desk, camera: cam, audit: auditLog, hq: hq, notices: hqNotices, cancel: cancel, done: make(chan struct{})}
	if err := router.Start(sctx); err != nil {
		cancel()
		return err
	}
	camDone := make(chan struct{})
	go func() {
		defer close(camDone)
		if err := cam.Run(sctx); err != nil {
			b.log.Error("camera: relay stopped", "err", err)
		}
	}()
	deskDone := make(chan struct{})
	go func() {
		defer close(deskDone)
		if err := desk.Run(sctx); err != nil {
			b.log.Error("booking: scheduler stopped", "err", err)
		}
	}()
	go func() {
		defer close(b.svcs.done)
		defer func() { <-deskDone; <-camDone }()
		go msvc.Run(sctx, cfg.Media.CleanupInterval)
		go cs.RunTransfers(sctx)
		sweep := time.NewTicker(time.Hour)
		defer sweep.Stop()
		// A customer whose session expired or was revoked is disconnected
		// within a second (auth.Hook.DisconnectInactiveCustomers).
		ended := time.NewTicker(time.Second)
		defer ended.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-ended.C:
				b.auth.DisconnectInactiveCustomers()
			case <-sweep.C:
				if n, err := custs.Sweep(sctx); err != nil {
					b.log.Warn("scan-to-chat: sweeping expired tokens failed", "err", err)
				} else if n > 0 {
					b.log.Debug("scan-to-chat: expired tokens and logins removed", "n", n)
				}
			}
		}
	}()
	return nil
}

// stop stops the services; requests arriving later are not answered.
func (s *services) stop() {
	s.cancel()
	s.router.Stop()
	<-s.done
}

// fitChunk returns the media chunk size to use: the configured one, or the
// largest (in KiB) whose chunk request, base64 plus envelope plus MQTT
// header, fits a packet of maxPacket bytes; at least 1 KiB (uploads then fail
// on a broker configured with packets that small, and the log says so).
func fitChunk(chunk int, maxPacket uint32) int {
	const header = 1024 // topic, response topic, correlation data, properties
	for chunk > 1024 && mediasvc.RequestBytesFor(chunk)+header > int(maxPacket) {
		chunk = (chunk - 1) &^ 1023
	}
	return max(chunk, 1024)
}

// loadKeys reads the sealing keys from the environment variable keys_env,
// else from keys_file, creating that file with one random key when it does
// not exist. where says which, for the log.
func loadKeys(c ServicesConfig, dataDir string) (*seal.Keyring, string, error) {
	if c.KeysEnv != "" && os.Getenv(c.KeysEnv) != "" {
		k, err := seal.FromEnv(c.KeysEnv)
		if err != nil {
			return nil, "", fmt.Errorf("services.keys_env %s: %w", c.KeysEnv, err)
		}
		return k, "$" + c.KeysEnv, nil
	}
	if c.KeysFile == "" {
		c.KeysFile = filepath.Join(dataDir, "seal.keys")
	}
	b, err := os.ReadFile(c.KeysFile)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, seal.KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, "", fmt.Errorf("services: new key: %w", err)
		}
		b = []byte("k1:" + base64.StdEncoding.EncodeToString(key) + "\n")
		if err := os.MkdirAll(filepath.Dir(c.KeysFile), 0o750); err != nil {
			return nil, "", fmt.Errorf("services.keys_file: %w", err)
		}
		// O_EXCL: two brokers starting at once must not each write a key.
		f, err := os.OpenFile(c.KeysFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, "", fmt.Errorf("services.keys_file: %w", err)
		}
		_, werr := f.Write(b)
		if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
			return nil, "", fmt.Errorf("services.keys_file: %w", err)
		}
	} else if err != nil {
		return nil, "", fmt.Errorf("services.keys_file: %w", err)
	}
	k, err := seal.ParseKeys(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, "", fmt.Errorf("services.keys_file %s: %w", c.KeysFile, err)
	}
	return k, c.KeysFile, nil
}

// withChatOutbox gives the chat service cloudsync's outbox when the bridge
// runs (a nil interface otherwise, not a typed nil).
func withChatOutbox(o chat.Options, bridge *cloudsync.Bridge) chat.Options {
	if bridge != nil {
		o.Outbox = bridge.Outbox()
	}
	return o
}

// withBookingOutbox is withChatOutbox for the booking desk.
func withBookingOutbox(o booking.Options, bridge *cloudsync.Bridge) booking.Options {
	if bridge != nil {
		o.Outbox = bridge.Outbox()
	}
	return o
}

// withAuditOutbox is withChatOutbox for the activity log.
func withAuditOutbox(o audit.Options, bridge *cloudsync.Bridge) audit.Options {
	if bridge != nil {
		o.Outbox = bridge.Outbox()
	}
	return o
}

// withHQOutbox is withChatOutbox for the store's services for HQ.
func withHQOutbox(o hqlink.Options, bridge *cloudsync.Bridge) hqlink.Options {
	if bridge != nil {
		o.Outbox = bridge.Outbox()
	}
	return o
}

// cameraOutbox files the relay's answers to viewers at home in cloudsync's
// outbox, each in its own transaction (nil without the bridge).
func cameraOutbox(db *store.DB, bridge *cloudsync.Bridge) camera.Outbox {
	if bridge == nil {
		return nil
	}
	return outboxFiler{db: db, ob: bridge.Outbox()}
}

type outboxFiler struct {
	db *store.DB
	ob interface {
		Put(tx *bolt.Tx, topic string, payload []byte) error
	}
}

func (f outboxFiler) File(ctx context.Context, topic string, payload []byte) error {
	return f.db.Update(ctx, func(tx *bolt.Tx) error { return f.ob.Put(tx, topic, payload) })
}

// hqMaxMediaBytes is the largest blob sent to HQ when it asks for one
// (hq/media/get).
const hqMaxMediaBytes = hqlink.DefaultMaxMediaBytes

// hqCollector exports what the store did with HQ's requests for blobs:
// storeedge_hq_media_total{result}.
type hqCollector struct{ l *hqlink.Link }

var hqMedia = prometheus.NewDesc("storeedge_hq_media_total",
	"Blobs HQ asked for (hq/media/get), by result: sent, missing (the store does not have it), too_large "+
		"(over max_media_bytes), no_room (the outbox is full of chat and bookings) or failed.",
	[]string{"result"}, nil)

var hqMediaPut = prometheus.NewDesc("storeedge_hq_media_put_total",
	"Photos and voice notes from customers at home (hq/media/put), by result: stored, or refused (hash, type, size or room).",
	[]string{"result"}, nil)

func (hqCollector) Describe(ch chan<- *prometheus.Desc) { ch <- hqMedia; ch <- hqMediaPut }

func (c hqCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.l.Stats()
	for result, v := range map[string]uint64{"sent": st.MediaSent, "missing": st.MediaMissing, "too_large": st.MediaTooLarge,
		"no_room": st.MediaNoRoom, "failed": st.MediaFailed} {
		ch <- prometheus.MustNewConstMetric(hqMedia, prometheus.CounterValue, float64(v), result)
	}
	ch <- prometheus.MustNewConstMetric(hqMediaPut, prometheus.CounterValue, float64(st.PutStored), "stored")
	ch <- prometheus.MustNewConstMetric(hqMediaPut, prometheus.CounterValue, float64(st.PutRefused), "refused")
}

// snapshotter files a service's whole state for HQ through put (the same
// shape as cloudsync's Snapshotter).
type snapshotter interface {
	Snapshot(ctx context.Context, put func(topic string, payload []byte) error) error
}

// snapshotters are the services whose state a snapshot for HQ carries:
// every conversation's messages, every booking, the shop. Each reads in
// bounded read transactions and calls put outside them.
func (s *services) snapshotters() []snapshotter {
	return []snapshotter{s.chat, s.booking, s.hq}
}
