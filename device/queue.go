package device

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// diskQueue keeps the requests that must survive a restart of the device
// program: one bbolt file, one bucket keyed by the request's sequence
// number, so reading it back gives the order they were made in.
type diskQueue struct {
	db *bolt.DB
}

var bucketRequests = []byte("requests")

// stored is a request as it is kept on disk.
type stored struct {
	ID       string          `json:"id"`
	Service  string          `json:"service"`
	Op       string          `json:"op"`
	Lane     string          `json:"lane,omitempty"`
	Payload  json.RawMessage `json:"payload"`
	Enqueued time.Time       `json:"enqueued"`
}

func openDiskQueue(dir string) (*diskQueue, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("device: queue dir: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, "queue.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("device: open queue (is another client using %s?): %w", dir, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketRequests)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("device: queue: %w", err)
	}
	return &diskQueue{db: db}, nil
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// load reads every queued request, oldest first.
func (q *diskQueue) load() (seqs []uint64, reqs []stored, err error) {
	err = q.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRequests).ForEach(func(k, v []byte) error {
			var s stored
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("request %x: %w", k, err)
			}
			seqs = append(seqs, binary.BigEndian.Uint64(k))
			reqs = append(reqs, s)
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("device: read queue: %w", err)
	}
	return seqs, reqs, nil
}

// put stores a request and returns its sequence number once it is on
// disk. Concurrent puts share one commit (bbolt's Batch).
func (q *diskQueue) put(s stored) (uint64, error) {
	v, err := json.Marshal(s)
	if err != nil {
		return 0, fmt.Errorf("device: queue: %w", err)
	}
	var seq uint64
	err = q.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRequests)
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		seq = n
		return b.Put(seqKey(n), v)
	})
	if err != nil {
		return 0, fmt.Errorf("device: queue: %w", err)
	}
	return seq, nil
}

// remove deletes answered or withdrawn requests. Losing a removal to a
// crash only sends the request once more, and the broker answers a repeat
// with the first answer.
func (q *diskQueue) remove(seqs []uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	err := q.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRequests)
		for _, s := range seqs {
			if err := b.Delete(seqKey(s)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("device: queue: %w", err)
	}
	return nil
}

func (q *diskQueue) close() error {
	return q.db.Close()
}
