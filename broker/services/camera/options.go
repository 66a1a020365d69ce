package camera

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/storeedge/storeedge/broker/svc"
)

// Defaults of Options.
const (
	DefaultMaxViewers      = 20
	DefaultSignalTimeout   = 15 * time.Second
	DefaultLinger          = 30 * time.Second
	DefaultRecheck         = 10 * time.Second
	DefaultSnapshotTimeout = 5 * time.Second
	DefaultOfflineGrace    = 10 * time.Second
	DefaultInboxSize       = 1024
)

// DefaultStaffRoles may watch every camera and take snapshots.
var DefaultStaffRoles = []string{"staff", "admin"}

// Occupant is the booking in a room at one moment (booking.Occupant).
type Occupant struct {
	Booking  string
	Customer string
	End      time.Time
}

// Bookings tells who is in a room: the booking desk.
type Bookings interface {
	// Occupant returns the checked-in booking whose slot holds resource at
	// time at; false when there is none.
	Occupant(resource string, at time.Time) (Occupant, bool, error)
}

// MediaStore keeps snapshots (broker/blob's Store through an adapter).
type MediaStore interface {
	// PutImage stores a whole image owned by owner and returns its hash.
	PutImage(ctx context.Context, owner, typ string, data []byte, width, height int) (string, error)
}

// Options configure New.
type Options struct {
	// Router serves svc/camera/… and publishes the relay's signals. Required.
	Router *svc.Router
	// Server is the broker, for the inline subscriptions to signaling,
	// device status and booking events. Required.
	Server *mqtt.Server
	// Bookings decides customers' grants. Nil: only staff may watch.
	Bookings Bookings
	// Media stores snapshots. Nil: snapshot answers unavailable.
	Media MediaStore
	// Rooms maps a camera's device id to the resource (services.yaml) it
	// films: the booking holding that resource is the one whose owner may
	// watch. A camera not listed here is for staff only.
	Rooms map[string]string
	// StaffRoles may watch any camera and take snapshots (default staff, admin).
	StaffRoles []string
	// MaxViewers is the most viewers of one camera at once; one more is
	// answered quota_exceeded (default 20).
	MaxViewers int
	// SignalTimeout: a session not connected this long after its watch (or
	// an upstream after its offer) is closed with bye "timeout" (default 15 s).
	SignalTimeout time.Duration
	// Linger keeps the camera's stream this long after its last viewer
	// leaves, so a viewer coming back gets a picture at once (default 30 s).
	Linger time.Duration
	// Recheck is how often owners' grants are checked again besides at
	// every booking change and at the end of their slot (default 10 s).
	Recheck time.Duration
	// SnapshotTimeout bounds the wait for a keyframe (default 5 s).
	SnapshotTimeout time.Duration
	// OfflineGrace: a camera whose status turns offline (its Last Will,
	// after a Wi-Fi drop) has this long to register again before its
	// viewers get bye "camera_offline"; they keep their sessions meanwhile
	// (default 10 s).
	OfflineGrace time.Duration
	// ICEServers are STUN/TURN servers for viewers outside the store's LAN;
	// they are handed to viewers and used by the relay. Empty: host
	// candidates only, which is all a LAN needs.
	ICEServers []ICEServer
	// UDPPortMin and UDPPortMax bound the relay's UDP ports (both 0: any),
	// for a firewall that must let media through.
	UDPPortMin, UDPPortMax uint16
	// Interfaces, when set, are the only network interfaces the relay
	// offers candidates on (the store LAN, not a VPN or a docker bridge).
	Interfaces []string
	// Loopback also offers 127.0.0.1 candidates: for tests and benchmarks
	// on one machine.
	Loopback bool
	// InboxSize bounds the signaling messages waiting to be handled; more
	// are dropped with a warning (the peer's session times out).
	InboxSize int
	// Outbox files the answers to viewers at home (camera/hq/answer). Nil:
	// watches from HQ are not answered (no HQ link).
	Outbox Outbox
	// GatherTimeout bounds the relay's ICE gathering for a viewer at home
	// (default 5 s).
	GatherTimeout time.Duration
	// Now is the clock of grants (default time.Now).
	Now func() time.Time
	// Log receives the service's log lines (default slog.Default()).
	Log *slog.Logger
}

func (o *Options) defaults() error {
	switch {
	case o.Router == nil:
		return errors.New("camera: Options.Router is required")
	case o.Server == nil:
		return errors.New("camera: Options.Server is required")
	case o.MaxViewers < 0, o.SignalTimeout < 0, o.Linger < 0, o.Recheck < 0, o.SnapshotTimeout < 0, o.InboxSize < 0, o.OfflineGrace < 0, o.GatherTimeout < 0:
		return errors.New("camera: limits must not be negative (0 = default)")
	case o.UDPPortMin > o.UDPPortMax:
		return fmt.Errorf("camera: UDP port range %d-%d is empty", o.UDPPortMin, o.UDPPortMax)
	}
	for i, s := range o.ICEServers {
		if len(s.URLs) == 0 {
			return fmt.Errorf("camera: ice_servers[%d] has no urls", i)
		}
	}
	if o.StaffRoles == nil {
		o.StaffRoles = DefaultStaffRoles
	}
	if o.MaxViewers == 0 {
		o.MaxViewers = DefaultMaxViewers
	}
	if o.SignalTimeout == 0 {
		o.SignalTimeout = DefaultSignalTimeout
	}
	if o.Linger == 0 {
		o.Linger = DefaultLinger
	}
	if o.Recheck == 0 {
		o.Recheck = DefaultRecheck
	}
	if o.SnapshotTimeout == 0 {
		o.SnapshotTimeout = DefaultSnapshotTimeout
	}
	if o.OfflineGrace == 0 {
		o.OfflineGrace = DefaultOfflineGrace
	}
	if o.GatherTimeout == 0 {
		o.GatherTimeout = DefaultGatherTimeout
	}
	if o.InboxSize == 0 {
		o.InboxSize = DefaultInboxSize
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return nil
}
