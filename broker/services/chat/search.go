package chat

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/safetext"
	"github.com/storeedge/storeedge/internal/strictjson"
	"github.com/storeedge/storeedge/proto"
)

// Search. Bodies are sealed at rest and no index is kept: search opens the
// messages the caller may read, newest first, and looks for the query in
// each text (case folded, a plain substring, so Chinese needs no word
// breaks). Nothing readable about a message is added to the disk. It stops
// at Options.SearchResults hits or after Options.SearchBudget and says how
// far back it read; the caller continues with "before".

type (
	searchReq struct {
		proto.Envelope
		proto.ChatSearchRequest
	}
	searchHit = proto.ChatSearchHit
	searchAns = proto.ChatSearchAnswer
)

func decodeSearch(b []byte, maxBody int) (searchReq, error) {
	var r searchReq
	if err := strictjson.Decode(b, &r); err != nil {
		return r, err
	}
	r.Q = strings.TrimSpace(r.Q)
	if r.Q == "" || !utf8.ValidString(r.Q) {
		return r, errors.New(`"q" must be the words to look for`)
	}
	if len(r.Q) > maxBody {
		return r, fmt.Errorf("%w: a search of %d bytes, longer than any message (%d)", svc.ErrTooLarge, len(r.Q), maxBody)
	}
	if err := safetext.Check("q", r.Q, false); err != nil {
		return r, err
	}
	if r.Conversation != "" {
		if err := checkConv(r.Conversation); err != nil {
			return r, err
		}
	}
	return r, nil
}

// fold is what search compares: lower case, full-width ASCII as ASCII.
func fold(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 0xFF01 && r <= 0xFF5E {
			r -= 0xFEE0
		}
		return r
	}, strings.ToLower(s))
}

// searchBatch is how many messages search reads in one read transaction.
var searchBatch = 512

// cursorItem is a conversation's next message to read (newest unread first).
type cursorItem struct {
	conv string
	seq  uint64
	ts   time.Time
	m    *msg
}

type cursorHeap []cursorItem

func (h cursorHeap) Len() int { return len(h) }
func (h cursorHeap) Less(i, j int) bool {
	if !h[i].ts.Equal(h[j].ts) {
		return h[i].ts.After(h[j].ts)
	}
	if h[i].conv != h[j].conv {
		return h[i].conv < h[j].conv
	}
	return h[i].seq > h[j].seq
}
func (h cursorHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)   { *h = append(*h, x.(cursorItem)) }
func (h *cursorHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// search answers the messages matching q, newest first.
func (s *Service) search(ctx context.Context, req *svc.Request) (any, error) {
	dev, err := caller(req)
	if err != nil {
		return nil, err
	}
	if !s.staff(req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "only staff search conversations")
	}
	r, err := decodeSearch(req.Body, s.o.MaxBodyBytes)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	all := s.seesAll(req.From.Role)
	q := fold(r.Q)
	deadline := time.Now().Add(s.o.SearchBudget)
	ans := &searchAns{Hits: []searchHit{}}
	var h cursorHeap
	err = s.view(func(tx *bolt.Tx) error {
		start := func(c *conv) error {
			seq, m, err := newestBefore(tx, c, r.Before)
			if err != nil || m == nil {
				return err
			}
			h = append(h, cursorItem{c.ID, seq, m.TS, m})
			return nil
		}
		if r.Conversation != "" {
			c, err := s.findConv(tx, r.Conversation)
			if err != nil {
				return err
			}
			if !c.member(dev) && !all {
				return notMember(c.ID)
			}
			if err := start(c); err != nil {
				return err
			}
		} else if b := tx.Bucket(bucketConvs); b != nil {
			if err := b.ForEach(func(k, v []byte) error {
				c, err := s.decodeConv(string(k), v)
				if err != nil {
					return err
				}
				if !c.member(dev) && !all {
					return nil
				}
				return start(c)
			}); err != nil {
				return err
			}
		}
		heap.Init(&h)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Read in batches, one read transaction each: a long read transaction
	// would hold up a write that grows the database file.
	var last time.Time
	for done := h.Len() == 0; !done; {
		err := s.view(func(tx *bolt.Tx) error {
			for range searchBatch {
				if h.Len() == 0 {
					done = true
					return nil
				}
				top := h[0]
				// Stop only between two message times, so "before" the
				// last time read misses nothing.
				if ans.Scanned > 0 && !top.ts.Equal(last) {
					if len(ans.Hits) >= s.o.SearchResults {
						ans.More, ans.Stopped, done = true, proto.SearchStoppedResults, true
						return nil
					}
					if time.Now().After(deadline) {
						ans.More, ans.Stopped, done = true, proto.SearchStoppedTime, true
						return nil
					}
				}
				ans.Scanned++
				last = top.ts
				if text, err := s.searchText(top.conv, top.seq, top.m); err != nil {
					return err
				} else if text != "" && strings.Contains(fold(text), q) {
					ans.Hits = append(ans.Hits, searchHit{Conversation: top.conv, Seq: top.seq, From: top.m.From,
						Kind: top.m.Kind, TS: top.m.TS, Text: text})
				}
				next, err := prevMsg(tx, top.conv, top.seq)
				if err != nil {
					return err
				}
				if next == nil {
					heap.Pop(&h)
					continue
				}
				h[0] = cursorItem{top.conv, top.seq - 1, next.TS, next}
				heap.Fix(&h, 0)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil && !done {
			return nil, fmt.Errorf("chat: search: %w", err)
		}
	}
	if ans.Scanned > 0 {
		ans.SearchedTo = &last
	}
	return ans, nil
}

// newestBefore is a conversation's newest message sent before t (the last
// one when t is nil): message times rise with seq, so a binary search.
func newestBefore(tx *bolt.Tx, c *conv, t *time.Time) (uint64, *msg, error) {
	if c.LastSeq == 0 {
		return 0, nil, nil
	}
	if t == nil {
		m, err := getMsg(tx, c.ID, c.LastSeq)
		return c.LastSeq, m, err
	}
	if !c.Created.Before(*t) {
		return 0, nil, nil
	}
	lo, hi := uint64(1), c.LastSeq // the answer is the largest seq in [lo, hi] with ts < t
	var found uint64
	var fm *msg
	for lo <= hi {
		mid := lo + (hi-lo)/2
		m, err := getMsg(tx, c.ID, mid)
		if err != nil {
			return 0, nil, err
		}
		if m == nil {
			return 0, nil, fmt.Errorf("%w: message %s#%d missing", errCorrupt, c.ID, mid)
		}
		if m.TS.Before(*t) {
			found, fm, lo = mid, m, mid+1
		} else {
			hi = mid - 1
		}
	}
	return found, fm, nil
}

// prevMsg is the message before seq, nil at the first.
func prevMsg(tx *bolt.Tx, convID string, seq uint64) (*msg, error) {
	if seq <= 1 {
		return nil, nil
	}
	m, err := getMsg(tx, convID, seq-1)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("%w: message %s#%d missing", errCorrupt, convID, seq-1)
	}
	return m, nil
}

// searchText opens a message and returns the words search looks in: its
// text or caption, or a card's string values; "" for a recalled message.
func (s *Service) searchText(convID string, seq uint64, m *msg) (string, error) {
	if m.Recalled != nil || len(m.Body) == 0 {
		return "", nil
	}
	out, err := s.openMsg(convID, seq, m)
	if err != nil {
		return "", err
	}
	if out.Text != "" || len(out.Card) == 0 {
		return out.Text, nil
	}
	var v any
	if json.Unmarshal(out.Card, &v) != nil {
		return "", nil
	}
	var words []string
	cardWords(v, "", &words)
	return strings.Join(words, " · "), nil
}

// cardWords collects a card's string values people read (not its type or ids).
func cardWords(v any, key string, out *[]string) {
	switch v := v.(type) {
	case string:
		switch key {
		case "type", "id", "event", "image", "url", "hash", "intent", "sku", "booking":
			return
		}
		if v != "" {
			*out = append(*out, v)
		}
	case []any:
		for _, e := range v {
			cardWords(e, key, out)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			cardWords(v[k], k, out)
		}
	}
}
