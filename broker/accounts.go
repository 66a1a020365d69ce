package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/storeedge/storeedge/broker/accounts"
	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/proto"
)

// openAccounts opens the account registry in the database, imports
// auth.devices_file when it exists (devices non-nil) and hands the accounts
// to the auth hook.
func (b *Broker) openAccounts(ctx context.Context, devices, acl []byte) error {
	var err error
	b.acc.reg, err = accounts.Open(ctx, accounts.Options{
		DB: b.db, Hook: b.auth, Now: b.cfg.Now,
		PairingTTL: b.cfg.Accounts.PairingCodeTTL, MinPasswordLength: b.cfg.Accounts.MinPasswordLength,
		StaffRoles: b.cfg.Accounts.StaffRoles, DeviceRoles: b.cfg.Accounts.DeviceRoles,
		AdminRole: b.cfg.Accounts.AdminRoles[0], Seal: b.keys, Log: b.log,
	})
	if err != nil {
		return err
	}
	if devices != nil {
		fileAccts, err := auth.ParseDevices(devices, acl)
		if err != nil {
			return fmt.Errorf("auth: %w", b.nameAuthFiles(err))
		}
		added, updated, removed, err := b.acc.reg.SyncFile(ctx, fileAccts, nil)
		if err != nil {
			return fmt.Errorf("auth: %w", err)
		}
		if added+updated+removed > 0 {
			b.log.Info("accounts: imported auth.devices_file", "added", added, "updated", updated, "removed", removed, "devices_file", b.cfg.Auth.DevicesFile)
		}
	} else if err := b.acc.reg.Apply(); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if len(b.acc.reg.Accounts()) == 0 {
		b.log.Warn("no accounts yet: the first admin is made at the setup address printed at start (README, \"First run\")", "devices_file", b.cfg.Auth.DevicesFile)
	}
	b.acc.enrollRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "storeedge_enroll_refused_total",
		Help: "POST /enroll attempts refused by accounts.enroll_per_minute or enroll_total_per_minute.",
	})
	if err := b.metrics.Register(b.acc.enrollRefused); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// reloadAccounts applies a SIGHUP: the ACL and the file's accounts (when the
// file exists), both valid or nothing changes.
func (b *Broker) reloadAccounts(devices, acl []byte) error {
	var fileAccts []auth.Account
	if devices != nil {
		var err error
		if fileAccts, err = auth.ParseDevices(devices, acl); err != nil {
			return err
		}
	} else {
		// No file: only the ACL changes; the file's entries stay.
		for _, e := range b.acc.reg.Entries() {
			if e.Source == accounts.SourceFile && !e.Revoked {
				fileAccts = append(fileAccts, auth.Account{ID: e.ID, Role: e.Role, PasswordHash: e.PasswordHash, CertCN: e.CertCN})
			}
		}
	}
	_, _, _, err := b.acc.reg.SyncFile(context.Background(), fileAccts, acl)
	return err
}

// seen records a device's login (auth.Options.OnLogin).
func (b *Broker) seen(device, remote string) {
	if r := b.acc.reg; r != nil {
		r.Seen(device, remote)
	}
}

// enrollURL is where the pairing QR code sends devices.
func (b *Broker) enrollURL() string {
	if u := b.cfg.Accounts.EnrollURL; u != "" {
		return u
	}
	if u, err := url.Parse(b.cfg.Chat.PublicURL); err == nil && u.Host != "" {
		return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/enroll"}).String()
	}
	return (&url.URL{Scheme: "http", Host: b.addrs.HTTP, Path: "/enroll"}).String()
}

// enrollHandler serves POST /enroll.
func (b *Broker) enrollHandler() http.Handler {
	return b.acc.reg.EnrollHandler(accounts.EnrollOptions{
		PerAddressPerMinute: b.cfg.Accounts.EnrollPerMinute,
		TotalPerMinute:      b.cfg.Accounts.EnrollTotalPerMinute,
		MQTT:                b.addrs.TCP,
		WebSocket:           wsAddr(b.addrs.Websocket, b.cfg.Listeners.WebsocketPath),
		OnRefused:           b.acc.enrollRefused.Inc,
		Log:                 b.log,
	})
}

func wsAddr(addr, path string) string {
	if addr == "" {
		return ""
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return ""
	}
	return "ws://" + addr + path
}

// subAppVersions is the inline subscription that reads the app version in
// devices' retained status.
const subAppVersions = 0xacc1

// registerAccounts adds the svc/accounts/… ops, and reads the app version
// each device reports with its online status (proto.DeviceStatus.App).
func (b *Broker) registerAccounts(router *svc.Router) error {
	if err := b.acc.reg.Register(router, b.enrollURL, b.cfg.Accounts.AdminRoles); err != nil {
		return err
	}
	return b.srv.Subscribe(proto.DeviceStatusFilter, subAppVersions, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		id, ok := strings.CutPrefix(pk.TopicName, "devices/")
		if !ok {
			return
		}
		id, _ = strings.CutSuffix(id, "/status")
		var st proto.DeviceStatus
		if json.Unmarshal(pk.Payload, &st) == nil && st.State == proto.StateOnline && st.App != "" {
			b.acc.reg.SeenApp(id, st.App)
		}
	})
}

// Accounts is the store's account registry (first-run setup calls
// HasAdmin and CreateAdmin on it).
func (b *Broker) Accounts() *accounts.Registry { return b.acc.reg }

// accountsParts are the broker's parts of the account registry.
type accountsParts struct {
	reg           *accounts.Registry
	adminLn       net.Listener // the admin socket
	enrollRefused prometheus.Counter
}

// cameraRooms is camera.rooms with the rooms of the cameras in the
// registry added (the file's entry wins for a camera in both). The relay
// reads them at start: a camera moved in the console films its new room
// from the next start.
func (b *Broker) cameraRooms(conf map[string]string) map[string]string {
	out := make(map[string]string, len(conf))
	for _, e := range b.acc.reg.Entries() {
		if e.Role == "camera" && e.Room != "" && !e.Revoked {
			out[e.ID] = e.Room
		}
	}
	for k, v := range conf {
		out[k] = v
	}
	return out
}
