package camera

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/storeedge/storeedge/broker/services/camera/still"
	"github.com/storeedge/storeedge/broker/svc"
)

// snapshotQuality is the JPEG quality of stills: a progress photo on a
// phone, not an archive.
const snapshotQuality = 85

// snapshot stores a still of a camera's live picture in the media store.
// It is a mutating op: a repeated request id gets the same still.
func (s *Service) snapshot(ctx context.Context, req *svc.Request) (any, error) {
	var q cameraReq
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	if err := s.resolveCamera(&q); err != nil {
		return nil, err
	}
	if s.o.Media == nil {
		return nil, svc.Errorf(svc.CodeUnavailable, "this store keeps no media")
	}
	s.mu.Lock()
	f := s.feeds[q.Camera]
	switch {
	case f == nil || f.offline != nil:
		s.mu.Unlock()
		return nil, svc.Errorf(svc.CodeUnavailable, "camera %s is not connected", q.Camera)
	case f.codec != webrtc.MimeTypeVP8:
		s.mu.Unlock()
		return nil, svc.Errorf(svc.CodeBadRequest, "camera %s sends %s; snapshots need %s", q.Camera, f.codec, webrtc.MimeTypeVP8)
	}
	f.users++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		f.users--
		s.mu.Unlock()
		s.release(f)
	}()

	tp := &tap{ch: make(chan *rtp.Packet, 1024)}
	f.tapMu.Lock()
	f.taps[tp] = struct{}{}
	f.tapMu.Unlock()
	defer func() {
		f.tapMu.Lock()
		delete(f.taps, tp)
		f.tapMu.Unlock()
	}()
	if err := s.use(f); err != nil {
		return nil, fmt.Errorf("camera: %w", err)
	}
	frame, err := s.nextKeyframe(ctx, f, tp)
	if err != nil {
		return nil, err
	}
	jpg, w, h, err := still.JPEG(frame, snapshotQuality)
	if err != nil {
		if errors.Is(err, still.ErrCorrupt) || errors.Is(err, still.ErrNotKeyframe) {
			return nil, svc.Errorf(svc.CodeUnavailable, "the camera's picture could not be decoded: %v", err)
		}
		return nil, fmt.Errorf("camera: snapshot: %w", err)
	}
	hash, err := s.o.Media.PutImage(ctx, req.From.Device, "image/jpeg", jpg, w, h)
	if err != nil {
		return nil, fmt.Errorf("camera: snapshot: %w", err)
	}
	s.stats.snapshots.Add(1)
	return snapshotAns{Media: Still{Hash: hash, Type: "image/jpeg", Size: int64(len(jpg)), Width: w, Height: h}}, nil
}

// nextKeyframe asks the camera for a keyframe (again every second, in case
// a request or the frame was lost) and returns the first whole one.
func (s *Service) nextKeyframe(ctx context.Context, f *feed, tp *tap) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.SnapshotTimeout)
	defer cancel()
	again := time.NewTicker(time.Second)
	defer again.Stop()
	s.requestKeyframe(f, true)
	var asm still.Assembler
	for {
		select {
		case p := <-tp.ch:
			if frame, key, done := asm.Push(p); done && key {
				return frame, nil
			}
		case <-again.C:
			s.requestKeyframe(f, true)
		case <-ctx.Done():
			return nil, svc.Errorf(svc.CodeUnavailable, "no picture from camera %s within %v", f.camera, s.o.SnapshotTimeout)
		}
	}
}
