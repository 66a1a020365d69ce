package sim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Device is one simulated device.
type Device struct {
	ID, Role, Password string
}

// Fleet is the simulated store's devices.
type Fleet struct {
	Devices []Device
}

// NewFleet names kiosks kiosk-sim-N, chat tablets tablet-sim-N, cameras
// cam-sim-N and staff tablets staff-sim-N. Passwords come from secret, so a
// registry written once serves every later run with the same secret.
func NewFleet(kiosks, tablets, cameras, staff int, secret string) *Fleet {
	f := &Fleet{}
	add := func(n int, prefix, role string) {
		for i := 1; i <= n; i++ {
			id := fmt.Sprintf("%s-sim-%d", prefix, i)
			m := hmac.New(sha256.New, []byte(secret))
			m.Write([]byte(id))
			f.Devices = append(f.Devices, Device{ID: id, Role: role, Password: hex.EncodeToString(m.Sum(nil))[:20]})
		}
	}
	add(kiosks, "kiosk", "kiosk")
	add(tablets, "tablet", "chat-tablet")
	add(cameras, "cam", "camera")
	add(staff, "staff", "staff")
	return f
}

// Count is how many devices have role.
func (f *Fleet) Count(role string) int {
	n := 0
	for _, d := range f.Devices {
		if d.Role == role {
			n++
		}
	}
	return n
}

// Tables is how many grooming tables (and groomers) the simulator's
// catalogue has for the fleet: room for hundreds of kiosks' bookings.
func (f *Fleet) Tables() int {
	return max(8, len(f.Devices)/4)
}

// CameraRooms is which table each camera films (camera.rooms): camera N
// table-N, so that an owner whose pet is on that table may watch it; with
// more cameras than tables, some tables have two.
func (f *Fleet) CameraRooms() map[string]string {
	rooms := map[string]string{}
	i := 0
	for _, d := range f.Devices {
		if d.Role == "camera" {
			rooms[d.ID] = fmt.Sprintf("table-%d", i%f.Tables()+1)
			i++
		}
	}
	return rooms
}

// WriteRegistry writes a devices.yaml for the fleet. The hashes use
// bcrypt's lowest cost so that hundreds of devices register in a second:
// a simulated store's registry, not a real one.
func (f *Fleet) WriteRegistry(path string) error {
	var b strings.Builder
	b.WriteString("# Simulated store (firmware-sim): test devices only.\ndevices:\n")
	for _, d := range f.Devices {
		h, err := bcrypt.GenerateFromPassword([]byte(d.Password), bcrypt.MinCost)
		if err != nil {
			return fmt.Errorf("sim: registry: %w", err)
		}
		fmt.Fprintf(&b, "  - id: %s\n    role: %s\n    password_hash: %q\n", d.ID, d.Role, h)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("sim: registry: %w", err)
	}
	return nil
}
