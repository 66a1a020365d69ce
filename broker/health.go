package broker

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"

	"github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/proto"
)

// healthAnswer is svc/store/health: what the staff console's store health
// panel shows beside the devices' status topics and cloudsync/status.
type healthAnswer = proto.StoreHealth

// registerHealth adds svc/store/health for staff roles: the data
// directory's disk, the database, media and outbox use, connected clients.
func (b *Broker) registerHealth(router *svc.Router, ms *blob.Store, bridge *cloudsync.Bridge, roles []string) error {
	h := func(ctx context.Context, _ *svc.Request) (any, error) {
		a := healthAnswer{DBBytes: b.db.Size(), MediaMaxBytes: ms.Limits().MaxTotalBytes,
			Connections: atomic.LoadInt64(&b.srv.Info.ClientsConnected), Cloud: bridge != nil}
		a.Schema = b.SchemaVersion()
		var err error
		if a.MediaBytes, a.MediaReservedBytes, err = ms.Usage(); err != nil {
			return nil, fmt.Errorf("store health: media: %w", err)
		}
		var fs syscall.Statfs_t
		if err := syscall.Statfs(b.cfg.DataDir, &fs); err != nil {
			return nil, fmt.Errorf("store health: disk of %s: %w", b.cfg.DataDir, err)
		}
		a.DiskFreeBytes = fs.Bavail * uint64(fs.Bsize)
		a.DiskTotalBytes = fs.Blocks * uint64(fs.Bsize)
		a.Clock = b.clockHealth()
		a.DiskMinFreeBytes, a.WritesRefused = uint64(max(b.cfg.Persistence.MinFreeDiskBytes, 0)), b.db.Refusing()
		if bridge != nil {
			st := bridge.Status()
			a.CloudConnected, a.OutboxEntries, a.OutboxBytes = st.Connected, st.Backlog, st.BacklogBytes
		}
		a.Backup = b.backupHealth()
		a.Checks = b.doctorChecks(ctx, bridge, a.Backup) // last: the backup check reads a.Backup
		return a, nil
	}
	b.doc.health = h
	if err := router.Handle(proto.ServiceStore, "health", h, svc.Roles(roles...)); err != nil {
		return fmt.Errorf("store health: %w", err)
	}
	return nil
}
