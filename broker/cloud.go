package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/storeedge/storeedge/broker/services/booking"
	"github.com/storeedge/storeedge/broker/services/camera"
	"github.com/storeedge/storeedge/broker/services/chat"
	"github.com/storeedge/storeedge/broker/services/hqlink"
	"github.com/storeedge/storeedge/broker/services/notices"
	"github.com/storeedge/storeedge/broker/store"
	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/cloudsync/topicmap"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/strictyaml"
	"github.com/storeedge/storeedge/internal/timesync"
	"github.com/storeedge/storeedge/proto"
)

// cloudLink is cloudsync running inside the daemon.
type cloudLink struct {
	bridge *cloudsync.Bridge
	cancel context.CancelFunc
	done   chan struct{}
}

// newCloud builds the bridge when cloud.url is set (nil otherwise), before
// the services, which file what HQ must see in its outbox.
func (b *Broker) newCloud() (*cloudsync.Bridge, error) {
	c := b.cfg.Cloud
	if !c.Enabled() {
		return nil, nil
	}
	mapYAML := configs.Cloud
	if c.MapFile != "" {
		var err error
		if mapYAML, err = os.ReadFile(c.MapFile); err != nil {
			return nil, fmt.Errorf("cloud.map_file: %w", err)
		}
	}
	m, err := topicmap.Parse(mapYAML)
	if err != nil {
		return nil, fmt.Errorf("cloud.map_file: %w", strictyaml.InFile(err, c.MapFile))
	}
	up, err := cloudsync.ParseUplink(mapYAML)
	if err != nil {
		return nil, fmt.Errorf("cloud.map_file: %w", strictyaml.InFile(err, c.MapFile))
	}
	bridge, err := cloudsync.New(cloudsync.Options{
		Config: c, StoreID: b.cfg.StoreID, DB: b.db, Map: m, Deliver: b.deliverFromHQ, Log: b.log, Seal: b.keys,
		Status:      func(p []byte) error { return b.srv.Publish(cloudsync.StatusTopic, p, true, 1) },
		Uplink:      &up,
		Version:     softwareVersion(),
		ClockSynced: b.clock.Synced,
	})
	if err != nil {
		return nil, err
	}
	b.clock.Subscribe(func(timesync.Status) {
		if b.ready.Load() { // not while shutting down
			bridge.ClockChanged()
		}
	})
	if err := b.metrics.Register(bridge.Collector()); err != nil {
		return nil, fmt.Errorf("cloud metrics: %w", err)
	}
	return bridge, nil
}

// softwareVersion is the build's version as HQ is told it: the module's
// version, or the VCS revision of a development build.
func softwareVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && (v == "" || v == "(devel)") {
			v = s.Value[:min(12, len(s.Value))]
		}
	}
	return v
}

// startCloud runs the bridge until shutdown. The services that can file
// their whole state for HQ (cloudsync.Snapshotter) are the bridge's
// snapshotters, for the backfill and HQ's snapshot requests.
func (b *Broker) startCloud(ctx context.Context, bridge *cloudsync.Bridge) {
	if s := b.svcs; s != nil {
		var candidates []any
		if s.chat != nil {
			candidates = append(candidates, s.chat)
		}
		if s.booking != nil {
			candidates = append(candidates, s.booking)
		}
		if s.settings != nil {
			candidates = append(candidates, s.settings)
		}
		if s.hq != nil {
			// The shop (catalogue, hours, zone, staff, FAQ): without it a
			// newly linked store is unknown to HQ's page at home until
			// something in it changes.
			candidates = append(candidates, s.hq)
		}
		for _, c := range candidates {
			if sn, ok := c.(cloudsync.Snapshotter); ok {
				bridge.AddSnapshotter(sn)
			}
		}
	}
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.cloud = &cloudLink{bridge: bridge, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(b.cloud.done)
		if err := bridge.Run(cctx); err != nil {
			b.log.Error("cloudsync stopped", "err", err)
		}
	}()
	b.log.Info("cloudsync on", "url", b.cfg.Cloud.URL, "store", b.cfg.StoreID)
}

func (l *cloudLink) stop() {
	l.cancel()
	<-l.done
}

// deliverFromHQ is the one way in for messages from HQ: cloudsync calls it
// for each message it took from HQ's broker, one at a time, and
// acknowledges the message to HQ only after it returned nil. It hands
// remote customers' chat to the chat service and online bookings to the
// booking desk (neither is published on the store broker), config pushes
// and requests for media to the store's services for HQ, notices to the
// notices service (which keeps and acknowledges them) and then, like the
// rest (promotions, config, broadcasts), to the local broker for the
// devices subscribed to it. An error wrapping cloudsync.ErrInvalid is input the
// service can never take; any other error makes cloudsync retry.
func (b *Broker) deliverFromHQ(ctx context.Context, in cloudsync.Inbound) error {
	s := b.svcs
	if s == nil {
		return errors.New("services not running")
	}
	switch {
	case strings.HasPrefix(in.Topic, "hq/chat/"):
		err := s.chat.HandleHQ(ctx, in.Topic, in.Payload)
		if errors.Is(err, chat.ErrHQInput) {
			return fmt.Errorf("%w: %w", cloudsync.ErrInvalid, err)
		}
		return err
	case strings.HasPrefix(in.Topic, "hq/booking/"):
		o, err := s.booking.HandleHQ(ctx, in.Topic, in.Payload)
		if errors.Is(err, booking.ErrHQInput) {
			return fmt.Errorf("%w: %w", cloudsync.ErrInvalid, err)
		}
		if err == nil && o != nil && !o.OK {
			b.log.Info("booking: request from HQ rejected", "request", o.Request, "code", o.Code, "reason", o.Reason)
		}
		return err
	case strings.HasPrefix(in.Topic, "hq/camera/"):
		// A customer at home asks to watch (or hangs up): the relay
		// answers in the outbox on camera/hq/answer.
		err := s.camera.HandleHQ(ctx, in.Topic, in.Payload)
		if errors.Is(err, camera.ErrHQInput) {
			return fmt.Errorf("%w: %w", cloudsync.ErrInvalid, err)
		}
		return err
	case in.Topic == proto.TopicConfigPush:
		// Applied with the store's own rules or refused whole; the answer
		// goes up as config/ack in the same commit.
		return hqInput(s.hq.HandleConfigPush(ctx, in.Payload))
	case in.Topic == proto.TopicMediaGet:
		return hqInput(s.hq.HandleMediaGet(ctx, in.Payload))
	case in.Topic == proto.HQMediaPutTopic:
		// A photo or voice note from home, before the message using it.
		return hqInput(s.hq.HandleMediaPut(ctx, in.Payload))
	case in.Topic == proto.TopicNotice || in.Topic == proto.TopicBroadcastNotice:
		// Kept and acknowledged to HQ, then on to the devices subscribed
		// to it (kiosks showing promotions), as before.
		if _, err := s.notices.HandleHQ(ctx, in.Topic, in.Payload); errors.Is(err, notices.ErrHQInput) {
			return fmt.Errorf("%w: %w", cloudsync.ErrInvalid, err)
		} else if err != nil {
			return err
		}
		fallthrough
	default:
		if err := b.srv.Publish(in.Topic, in.Payload, in.Retain, 1); err != nil {
			return fmt.Errorf("publish %s locally: %w", in.Topic, err)
		}
		return nil
	}
}

// hqInput marks an error of the store's services for HQ that a replay would
// meet again as cloudsync.ErrInvalid (logged and dropped, not retried).
func hqInput(err error) error {
	if errors.Is(err, hqlink.ErrInvalid) {
		return fmt.Errorf("%w: %w", cloudsync.ErrInvalid, err)
	}
	return err
}

// cloudCapture files devices' publishes on mapped topics (telemetry,
// status) in the outbox. It runs after the session hook, on the final pass
// of a publish, so a QoS 1 entry is on disk before the device's PUBACK. The
// services' own publishes (the inline client) are not captured: they file
// what HQ must see themselves, in their own commits.
type cloudCapture struct {
	mqtt.HookBase
	bridge *cloudsync.Bridge
}

func (h *cloudCapture) ID() string { return "storeedge-cloud-capture" }

func (h *cloudCapture) Provides(b byte) bool { return b == mqtt.OnPublish }

func (h *cloudCapture) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || pk.Ignore {
		return pk, nil
	}
	err := h.bridge.Capture(context.Background(), pk.TopicName, pk.Payload, pk.FixedHeader.Qos > 0)
	if errors.Is(err, cloudsync.ErrQuota) {
		// An MQTT 5 device learns its message was not taken for HQ
		// (PUBACK 0x97; mochi then skips the live delivery, though the
		// session hook may already have stored it for offline sessions).
		// An MQTT 3.1.1 device gets a plain PUBACK: it is counted.
		return pk, packets.ErrQuotaExceeded
	}
	if errors.Is(err, store.ErrFull) {
		// The disk or the database is full and nothing was filed: as the
		// session hook answers it, MQTT 5 PUBACK 0x97, and for MQTT 3.1.1
		// no PUBACK, so the device sends it again later.
		if cl.Properties.ProtocolVersion < 5 {
			return pk, packets.ErrRejectPacket
		}
		return pk, packets.ErrQuotaExceeded
	}
	if err != nil {
		return pk, packets.ErrImplementationSpecificError
	}
	return pk, nil
}
