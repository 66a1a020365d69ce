package camera

import (
	"slices"
	"time"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/svc"
)

// grantInfo is why a viewer may watch: staff (no booking), or the owner of
// booking until its slot ends.
type grantInfo struct {
	booking string
	until   time.Time
}

// grant decides whether who may watch camera now: staff always; a
// customer only while its booking is checked in to the room the camera
// films. Everyone else, and a customer at any other time, is forbidden.
func (s *Service) grant(who auth.Identity, camera string) (grantInfo, error) {
	if s.staff(who.Role) {
		return grantInfo{}, nil
	}
	if !who.Customer {
		return grantInfo{}, svc.Errorf(svc.CodeForbidden, "cameras are watched by staff and by the customer whose pet is in the room")
	}
	room := s.o.Rooms[camera]
	if room == "" || s.o.Bookings == nil {
		return grantInfo{}, svc.Errorf(svc.CodeForbidden, "camera %s is for staff only", camera)
	}
	occ, ok, err := s.o.Bookings.Occupant(room, s.o.Now())
	if err != nil {
		return grantInfo{}, svc.Errorf(svc.CodeUnavailable, "bookings cannot be read now: %v", err)
	}
	if !ok || occ.Customer != who.Device {
		return grantInfo{}, svc.Errorf(svc.CodeForbidden, "camera %s shows %s only to the customer checked in there now", camera, room)
	}
	// Check again when the slot ends (the periodic check is the fallback).
	time.AfterFunc(max(0, occ.End.Sub(s.o.Now()))+10*time.Millisecond, s.askRecheck)
	return grantInfo{booking: occ.Booking, until: occ.End}, nil
}

// recheckGrants ends the sessions of owners whose grant has ended: the slot
// is over, the pet was checked out, the booking was moved or cancelled.
func (s *Service) recheckGrants() {
	s.mu.Lock()
	var owners []*viewer
	for _, v := range s.sessions {
		if v.booking != "" {
			owners = append(owners, v)
		}
	}
	s.mu.Unlock()
	if len(owners) == 0 {
		return
	}
	now := s.o.Now()
	for _, v := range owners {
		room := s.o.Rooms[v.feed.camera]
		occ, ok, err := s.o.Bookings.Occupant(room, now)
		if err != nil {
			s.log.Warn("camera: grants not checked: bookings unreadable", "err", err)
			return // keep the sessions; the next check decides
		}
		if !ok || occ.Booking != v.booking || occ.Customer != v.owner.Device {
			s.endViewer(v, ReasonGrantEnded, true)
		}
	}
}

// resolveCamera fills in q.Camera from q.Booking: the camera filming the
// room that booking is in now (checked in, inside its slot).
func (s *Service) resolveCamera(q *cameraReq) error {
	switch {
	case q.Camera != "" && q.Booking != "":
		return svc.Errorf(svc.CodeBadRequest, `give "camera" or "booking", not both`)
	case q.Camera != "":
		return nil
	case q.Booking == "":
		return svc.Errorf(svc.CodeBadRequest, `"camera" or "booking" is required`)
	case s.o.Bookings == nil:
		return svc.Errorf(svc.CodeNotFound, "no camera films booking %s now", q.Booking)
	}
	cams := make([]string, 0, len(s.o.Rooms))
	for cam := range s.o.Rooms {
		cams = append(cams, cam)
	}
	slices.Sort(cams) // the same answer every time when two cameras film one room
	now := s.o.Now()
	for _, cam := range cams {
		occ, ok, err := s.o.Bookings.Occupant(s.o.Rooms[cam], now)
		if err != nil {
			return svc.Errorf(svc.CodeUnavailable, "bookings cannot be read now: %v", err)
		}
		if ok && occ.Booking == q.Booking {
			q.Camera = cam
			return nil
		}
	}
	return svc.Errorf(svc.CodeNotFound, "no camera films booking %s now (it is checked in and in its slot only while it is in its room)", q.Booking)
}
