package home

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/internal/httpjson"
	"github.com/storeedge/storeedge/proto"
)

// assistantID is the store's FAQ assistant's member id.
const assistantID = "assistant"

// mediaTypes are the blobs a customer may send from home.
var mediaTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/webp": true,
	"audio/webm": true, "audio/ogg": true, "audio/mp4": true}

// putMedia takes a photo or voice note (the raw body), kept sealed.
func (s *Server) putMedia(w http.ResponseWriter, r *http.Request, c Customer) {
	typ, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !mediaTypes[typ] {
		httpjson.Error(w, http.StatusBadRequest, "bad_request", "Send a photo (JPEG, PNG, WebP) or a voice note (WebM, Ogg, MP4 audio).")
		return
	}
	if r.ContentLength > s.cfg.MaxMedia {
		s.tooLarge(w)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxMedia+1))
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "bad_request", "The upload broke off; please try again.")
		return
	}
	if int64(len(data)) > s.cfg.MaxMedia {
		s.tooLarge(w)
		return
	}
	if len(data) == 0 {
		httpjson.Error(w, http.StatusBadRequest, "bad_request", "The upload is empty.")
		return
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	sealed, err := s.o.Keys.Seal(data, homeMediaAAD)
	if err != nil {
		internal(w, s.log, "media", err)
		return
	}
	err = s.inTx(r.Context(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(r.Context(), `INSERT INTO home_media (store, hash, home_customer, type, size, data)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (store, hash) DO NOTHING`, c.Store, hash, c.ID, typ, len(data), sealed); err != nil {
			return err
		}
		_, err := tx.Exec(r.Context(), `INSERT INTO home_media_owners (store, hash, home_customer) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, c.Store, hash, c.ID)
		return err
	})
	if err != nil {
		internal(w, s.log, "media", err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"hash": hash, "type": typ, "size": len(data)})
}

func (s *Server) tooLarge(w http.ResponseWriter) {
	httpjson.Error(w, http.StatusRequestEntityTooLarge, "too_large",
		fmt.Sprintf("That file is too large: at most %.1f MB.", float64(s.cfg.MaxMedia)/(1<<20)))
}

// ownMedia is a blob she uploaded (nil when she did not): its info with
// the size and type HQ measured, and its bytes.
func (s *Server) ownMedia(ctx context.Context, c Customer, want *proto.MediaInfo) (*proto.MediaInfo, []byte, error) {
	var typ string
	var size int64
	var sealed []byte
	err := s.o.Pool.QueryRow(ctx, `SELECT m.type, m.size, m.data FROM home_media m
		JOIN home_media_owners o ON o.store = m.store AND o.hash = m.hash AND o.home_customer = $3
		WHERE m.store = $1 AND m.hash = $2`, c.Store, want.Hash, c.ID).Scan(&typ, &size, &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("home: media: %w", err)
	}
	data, err := s.o.Keys.Open(sealed, homeMediaAAD)
	if err != nil {
		return nil, nil, fmt.Errorf("home: open media: %w", err)
	}
	info := *want
	info.Type, info.Size, info.Thumbnail = typ, size, ""
	return &info, data, nil
}

// inConversation tells whether hash is a blob of a message of her
// conversation (the store's copy).
func (s *Server) inConversation(ctx context.Context, c Customer, hash string) (bool, error) {
	rows, err := s.o.Pool.Query(ctx, `SELECT body FROM messages WHERE store = $1 AND conversation = $2 AND body IS NOT NULL
		AND kind <> 'text'`, c.Store, c.Customer)
	if err != nil {
		return false, fmt.Errorf("home: conversation media: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sealed []byte
		if err := rows.Scan(&sealed); err != nil {
			return false, err
		}
		b, err := s.o.Keys.Open(sealed, messagesAAD)
		if err != nil {
			return false, fmt.Errorf("home: open a message: %w", err)
		}
		var bd body
		if json.Unmarshal(b, &bd) == nil && bd.Media != nil && (bd.Media.Hash == hash || bd.Media.Thumbnail == hash) {
			return true, nil
		}
	}
	return false, rows.Err()
}

// getMedia serves a blob she uploaded or one of her conversation; one the
// conversation names that HQ does not have yet is asked of the store (202).
func (s *Server) getMedia(w http.ResponseWriter, r *http.Request, c Customer) {
	hash := r.PathValue("hash")
	if len(hash) != 64 {
		httpjson.Error(w, http.StatusNotFound, "not_found", "There is no such photo or recording.")
		return
	}
	ctx := r.Context()
	info, data, err := s.ownMedia(ctx, c, &proto.MediaInfo{Hash: hash})
	if err != nil {
		internal(w, s.log, "media", err)
		return
	}
	if info != nil {
		serveBlob(w, info.Type, data)
		return
	}
	ok, err := s.inConversation(ctx, c, hash)
	if err != nil {
		internal(w, s.log, "media", err)
		return
	}
	if !ok {
		httpjson.Error(w, http.StatusNotFound, "not_found", "There is no such photo or recording.")
		return
	}
	var typ string
	var sealed, plain []byte
	err = s.o.Pool.QueryRow(ctx, `SELECT type, data, NULL::bytea FROM home_media WHERE store = $1 AND hash = $2
		UNION ALL SELECT mime, NULL, data FROM media WHERE store = $1 AND hash = $2 LIMIT 1`, c.Store, hash).Scan(&typ, &sealed, &plain)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		g := proto.MediaGet{V: 1, ID: "mg-" + hash[:16] + "-" + randomHex(4), Hash: hash}
		b, _ := json.Marshal(g)
		if err := s.publish(ctx, c.Store, proto.TopicMediaGet, b, g.ID); err != nil {
			httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "HQ could not ask the store for it just now.")
			return
		}
		httpjson.Write(w, http.StatusAccepted, map[string]any{"pending": true})
		return
	case err != nil:
		internal(w, s.log, "media", err)
		return
	}
	if sealed != nil {
		if plain, err = s.o.Keys.Open(sealed, homeMediaAAD); err != nil {
			internal(w, s.log, "media", err)
			return
		}
	}
	serveBlob(w, typ, plain)
}

// serveBlob answers a blob. Only pictures, sound and video are shown as
// such; anything else (a store's blob may be any type) is a download, and
// nothing served here may run as a page on HQ's origin.
func serveBlob(w http.ResponseWriter, typ string, data []byte) {
	major, _, _ := strings.Cut(typ, "/")
	if (major != "image" && major != "audio" && major != "video") || typ == "image/svg+xml" {
		typ = "application/octet-stream"
		w.Header().Set("Content-Disposition", "attachment")
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.Header().Set("Content-Type", typ)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	_, _ = w.Write(data)
}
