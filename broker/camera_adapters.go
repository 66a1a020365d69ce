package broker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/services/booking"
	"github.com/storeedge/storeedge/broker/services/camera"
	"github.com/storeedge/storeedge/broker/svc"
)

// newCameraService builds the camera relay on the booking desk (who is in
// which room) and the media store (snapshots).
func newCameraService(cfg Config, b *Broker, router *svc.Router, desk *booking.Desk, ms *blob.Store, ob camera.Outbox) (*camera.Service, error) {
	c := cfg.Camera
	lo, hi, err := c.udpPorts()
	if err != nil {
		return nil, err
	}
	s, err := camera.New(camera.Options{
		Router: router, Server: b.srv, Bookings: deskRooms{desk}, Media: mediaStills{ms},
		Rooms: b.cameraRooms(c.Rooms), StaffRoles: c.StaffRoles, MaxViewers: c.MaxViewers, SignalTimeout: c.SignalTimeout,
		Linger: c.Linger, Recheck: c.Recheck, SnapshotTimeout: c.SnapshotTimeout, OfflineGrace: c.OfflineGrace, ICEServers: c.ICEServers,
		UDPPortMin: lo, UDPPortMax: hi, Interfaces: c.Interfaces, Loopback: c.Loopback, Now: cfg.Now, Log: b.log,
		Outbox: ob, GatherTimeout: c.GatherTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("camera: %w", err)
	}
	if err := b.metrics.Register(cameraCollector{s}); err != nil {
		return nil, err
	}
	return s, nil
}

// cameraCollector exports the relay's state and counters on /metrics.
type cameraCollector struct{ s *camera.Service }

var (
	camDesc = func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("storeedge_camera_"+name, help, nil, nil)
	}
	camCameras   = camDesc("registered", "Cameras registered with the relay.")
	camUpstreams = camDesc("streams", "Cameras streaming to the relay now.")
	camViewers   = camDesc("viewers", "Viewer sessions now.")
	camWatches   = camDesc("watches_total", "Viewer sessions granted.")
	camDenied    = camDesc("watches_denied_total", "Watch requests refused (forbidden, unavailable, quota_exceeded, bad input).")
	camKeyframes = camDesc("keyframe_requests_total", "Keyframe requests (PLI) sent to cameras.")
	camPackets   = camDesc("packets_total", "RTP packets received from cameras.")
	camSnapshots = camDesc("snapshots_total", "Snapshots stored.")
	camHome      = prometheus.NewDesc("storeedge_camera_home_watches_total",
		"Watches from customers at home (hq/camera/watch), by result: answered (a session), refused (a code) "+
			"or expired (arrived after HQ stopped waiting; dropped unanswered).", []string{"result"}, nil)
)

func (cameraCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{camCameras, camUpstreams, camViewers, camWatches, camDenied, camKeyframes, camPackets, camSnapshots, camHome} {
		ch <- d
	}
}

func (c cameraCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	n := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	g(camCameras, float64(st.Cameras))
	g(camUpstreams, float64(st.Upstreams))
	g(camViewers, float64(st.Viewers))
	n(camWatches, st.Watches)
	n(camDenied, st.Denied)
	n(camKeyframes, st.KeyframeRequests)
	n(camPackets, st.Packets)
	n(camSnapshots, st.Snapshots)
	for result, v := range map[string]uint64{"answered": st.HQAnswered, "refused": st.HQRefused, "expired": st.HQExpired} {
		ch <- prometheus.MustNewConstMetric(camHome, prometheus.CounterValue, float64(v), result)
	}
}

// deskRooms answers the relay's "who is in this room" from the booking desk.
type deskRooms struct{ d *booking.Desk }

func (r deskRooms) Occupant(resource string, at time.Time) (camera.Occupant, bool, error) {
	o, ok, err := r.d.Occupant(resource, at)
	return camera.Occupant{Booking: o.Booking, Customer: o.Customer, End: o.End}, ok, err
}

// mediaStills stores snapshots as a whole upload in the media store.
type mediaStills struct{ s *blob.Store }

func (m mediaStills) PutImage(ctx context.Context, owner, typ string, data []byte, width, height int) (string, error) {
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	id := "snap-" + hash[:26] // the same picture is the same upload
	st, err := m.s.Begin(ctx, owner, id, blob.Meta{Type: typ, Size: int64(len(data)), SHA256: hash, Width: width, Height: height})
	if err != nil {
		return "", fmt.Errorf("snapshot: %w", err)
	}
	for _, i := range st.Missing {
		end := min((i+1)*st.ChunkBytes, len(data))
		if st, err = m.s.PutChunk(ctx, owner, id, i, data[i*st.ChunkBytes:end]); err != nil {
			return "", fmt.Errorf("snapshot: %w", err)
		}
	}
	if !st.Done {
		if st, err = m.s.Complete(ctx, owner, id); err != nil {
			return "", fmt.Errorf("snapshot: %w", err)
		}
	}
	return st.Hash, nil
}
