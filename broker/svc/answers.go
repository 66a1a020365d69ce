package svc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Buckets (owned by this package):
//
//	svc_answers      service/op 0x00 principal 0x00 request id → stored-at (8 bytes, unix ns, BE) + answer
//	                 (with Options.Seal: 0x01 + the answer sealed, the key as additional data)
//	svc_answers_exp  stored-at (8 bytes) + answer key          → nil (the sweep's index, oldest first)
//
// principal is "d:" + device id, or "c:" + client id for anonymous clients.
var (
	bucketAnswers = []byte("svc_answers")
	bucketExpiry  = []byte("svc_answers_exp")
)

// sealedMark starts a sealed stored answer (a plain one is JSON: '{').
const sealedMark = 0x01

// sweepBatch is how many expired answers one sweep transaction deletes.
const sweepBatch = 1000

// flight is a Mutating request being handled; duplicates that arrive
// meanwhile wait here for its answer.
type flight struct {
	waiters []replyTo
}

func (r *Router) initBuckets(ctx context.Context) error {
	err := r.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketAnswers, bucketExpiry} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("svc: %w", err)
	}
	return nil
}

func answerKey(o *op, req *Request) []byte {
	k := make([]byte, 0, len(o.service)+len(o.name)+len(req.From.ClientID)+len(req.ID)+8)
	k = append(k, o.service...)
	k = append(k, '/')
	k = append(k, o.name...)
	k = append(k, 0)
	if req.From.Anonymous || req.From.Device == "" {
		k = append(k, "c:"...)
		k = append(k, req.From.ClientID...)
	} else {
		k = append(k, "d:"...)
		k = append(k, req.From.Device...)
	}
	k = append(k, 0)
	return append(k, req.ID...)
}

// serveMutating answers a Mutating request: from the stored answer when the
// request id was seen, after the first when a duplicate is in flight, or by
// running the handler and storing its answer.
func (r *Router) serveMutating(ctx context.Context, o *op, req *Request, to replyTo) {
	key := answerKey(o, req)
	r.flightMu.Lock()
	if f := r.flights[string(key)]; f != nil {
		f.waiters = append(f.waiters, to)
		r.flightMu.Unlock()
		r.stats.duplicates.Add(1)
		return
	}
	f := &flight{}
	r.flights[string(key)] = f
	r.flightMu.Unlock()

	ans, found, err := r.stored(key)
	switch {
	case err != nil:
		r.stats.storeErrors.Add(1)
		r.log.Error("svc: reading a stored answer failed; answered unavailable", "service", o.service, "op", o.name, "error", err)
		ans = errAnswer(req.ID, &Error{Code: CodeUnavailable, Message: "internal error; try again later"})
	case found:
		r.stats.duplicates.Add(1)
	default:
		var code string
		k := &keeper{r: r, key: key}
		req.keep = k
		ans, code = r.call(ctx, o, req)
		if !transient(code) && !k.committed(ans) {
			// Stopping must not lose the answer of a handler that finished.
			if err := r.keep(context.WithoutCancel(ctx), key, ans); err != nil {
				// The answer is true; only the memory of it is lost, and a
				// retry runs the handler again (which must be idempotent).
				r.stats.storeErrors.Add(1)
				r.log.Warn("svc: storing an answer failed; a retry will run the op again",
					"service", o.service, "op", o.name, "client", req.From.ClientID, "id", req.ID, "error", err)
			}
		}
	}

	r.flightMu.Lock()
	delete(r.flights, string(key))
	waiters := f.waiters
	r.flightMu.Unlock()
	r.send(to, ans)
	for _, w := range waiters {
		r.send(w, ans)
	}
}

// stored returns the unexpired answer kept under key.
func (r *Router) stored(key []byte) ([]byte, bool, error) {
	var ans []byte
	err := r.o.DB.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAnswers)
		if b == nil {
			return errors.New("bucket svc_answers missing (router not started)")
		}
		v := b.Get(key)
		if len(v) < 8 {
			return nil
		}
		at := time.Unix(0, int64(binary.BigEndian.Uint64(v)))
		if r.o.Now().Sub(at) >= r.o.AnswerTTL {
			return nil // expired, not swept yet
		}
		ans = bytes.Clone(v[8:])
		return nil
	})
	if err == nil && len(ans) > 0 && ans[0] == sealedMark {
		if r.o.Seal == nil {
			return nil, false, errors.New("svc: a stored answer is sealed and Options.Seal is not set")
		}
		if ans, err = r.o.Seal.Open(ans[1:], key); err != nil {
			return nil, false, fmt.Errorf("svc: open answer: %w", err)
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("svc: read answer: %w", err)
	}
	return ans, ans != nil, nil
}

// keeper lets the handler of one Mutating request store its answer in its
// own write transaction (Request.Keep).
type keeper struct {
	r   *Router
	key []byte

	mu   sync.Mutex
	kept []byte // the answer a committed transaction stored; nil until then
	res  any    // the result kept was made of
}

// reuse returns the kept answer when res is the very result it was made of
// (a pointer: the same value, not encoded twice).
func (k *keeper) reuse(res any) ([]byte, bool) {
	if k == nil || res == nil || reflect.ValueOf(res).Kind() != reflect.Pointer {
		return nil, false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.kept == nil || k.res != res {
		return nil, false
	}
	return k.kept, true
}

// committed reports whether ans is the answer a committed transaction of the
// handler stored.
func (k *keeper) committed(ans []byte) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.kept != nil && bytes.Equal(k.kept, ans)
}

// Keep stores, in tx, the answer that result makes, so that a Mutating op's
// answer for repeated request ids commits with the op's own writes: one
// commit instead of two, and no moment where the change is on disk and the
// memory of its answer is not (a repeat after a crash then gets the answer
// instead of running the op again). Call it last in the function of the
// op's write transaction, with the result the handler returns after the
// commit, and do not change that result afterwards; tx must be a
// transaction of the router's database. The answer is stored as the router
// stores it (sealed with Options.Seal) and published only after the
// handler returns, so after the commit.
//
// The router stores nothing more for the request when the handler returns
// that same result and the transaction committed. When the handler returns
// another result or an error, or the transaction did not commit, the router
// stores the answer it publishes itself, as for a handler that does not call
// Keep. For ops not registered Mutating, for requests the router did not
// make, and for a transaction of another database, Keep does nothing.
func (req *Request) Keep(tx *bolt.Tx, result any) error {
	k := req.keep
	if k == nil || tx.Bucket(bucketAnswers) == nil {
		return nil
	}
	ans, err := okAnswer(req.ID, result)
	if err != nil {
		return err
	}
	val, err := k.r.answerValue(k.key, ans)
	if err != nil {
		return err
	}
	if err := putAnswer(tx, k.key, val); err != nil {
		return fmt.Errorf("svc: store answer: %w", err)
	}
	tx.OnCommit(func() {
		k.mu.Lock()
		k.kept, k.res = ans, result
		k.mu.Unlock()
	})
	return nil
}

// answerValue is what svc_answers holds for ans: the time it was stored
// and the answer, sealed when Options.Seal is set.
func (r *Router) answerValue(key, ans []byte) ([]byte, error) {
	var at [8]byte
	binary.BigEndian.PutUint64(at[:], uint64(r.o.Now().UnixNano()))
	if r.o.Seal == nil {
		return append(at[:], ans...), nil
	}
	sealed, err := r.o.Seal.Seal(ans, key)
	if err != nil {
		return nil, fmt.Errorf("svc: seal answer: %w", err)
	}
	return append(append(at[:], sealedMark), sealed...), nil
}

// putAnswer stores an answer value (see answerValue) and its expiry index
// entry, replacing an expired one.
func putAnswer(tx *bolt.Tx, key, val []byte) error {
	b, x := tx.Bucket(bucketAnswers), tx.Bucket(bucketExpiry)
	if b == nil || x == nil {
		return errors.New("buckets svc_answers, svc_answers_exp missing (router not started)")
	}
	if old := b.Get(key); len(old) >= 8 {
		if err := x.Delete(append(bytes.Clone(old[:8]), key...)); err != nil {
			return err
		}
	}
	if err := b.Put(key, val); err != nil {
		return err
	}
	return x.Put(append(bytes.Clone(val[:8]), key...), nil)
}

// keep stores an answer in a transaction of its own.
func (r *Router) keep(ctx context.Context, key, ans []byte) error {
	val, err := r.answerValue(key, ans)
	if err != nil {
		return err
	}
	if err := r.o.DB.Update(ctx, func(tx *bolt.Tx) error { return putAnswer(tx, key, val) }); err != nil {
		return fmt.Errorf("svc: store answer: %w", err)
	}
	return nil
}

// sweepLoop deletes expired answers every SweepInterval until ctx ends.
func (r *Router) sweepLoop(ctx context.Context) {
	t := time.NewTicker(r.o.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := r.Sweep(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("svc: sweeping expired answers", "error", err)
			}
		}
	}
}

// Sweep deletes the answers older than AnswerTTL and returns how many. It
// runs on its own every SweepInterval after Start.
func (r *Router) Sweep(ctx context.Context) (int, error) {
	total := 0
	cutoff := r.o.Now().Add(-r.o.AnswerTTL).UnixNano()
	update := r.o.DB.Update
	if f, ok := r.o.DB.(interface {
		UpdateFree(context.Context, func(*bolt.Tx) error) error
	}); ok {
		update = f.UpdateFree // deletes: they must commit in a full database too (broker/store)
	}
	for {
		n := 0
		err := update(ctx, func(tx *bolt.Tx) error {
			n = 0
			b, x := tx.Bucket(bucketAnswers), tx.Bucket(bucketExpiry)
			if b == nil || x == nil {
				return nil
			}
			var dead [][]byte
			c := x.Cursor()
			for k, _ := c.First(); k != nil && len(dead) < sweepBatch; k, _ = c.Next() {
				if len(k) < 8 || int64(binary.BigEndian.Uint64(k)) > cutoff {
					break
				}
				dead = append(dead, bytes.Clone(k))
			}
			for _, k := range dead {
				if err := x.Delete(k); err != nil {
					return err
				}
				key := k[8:]
				// Delete the answer only if this index entry is its own (not
				// one replaced since).
				if v := b.Get(key); len(v) >= 8 && bytes.Equal(v[:8], k[:8]) {
					if err := b.Delete(key); err != nil {
						return err
					}
				}
			}
			n = len(dead)
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("svc: sweep answers: %w", err)
		}
		total += n
		if n < sweepBatch {
			return total, nil
		}
	}
}
