package chat

import (
	"bytes"
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
)

// CanFetch decides who may download a blob through the media service
// (mediasvc.Options.CanFetch): staff who see all conversations, and the
// members of a conversation with a (not recalled) message pointing at it.
// A blob nobody has sent yet is only for staff; its uploader has the file.
func (s *Service) CanFetch(_ context.Context, who auth.Identity, hash string) (bool, error) {
	if who.Device == "" {
		return false, nil
	}
	if s.seesAll(who.Role) {
		return true, nil
	}
	found := false
	err := s.o.DB.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMedia)
		if b == nil {
			return nil
		}
		prefix := []byte(hash + "\x00")
		cur := b.Cursor()
		for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
			rest := k[len(prefix):]
			if len(rest) < 9 {
				continue
			}
			if _, ok := readUpTo(tx, who.Device, string(rest[:len(rest)-9])); ok {
				found = true
				return nil
			}
		}
		return nil
	})
	return found, err
}
