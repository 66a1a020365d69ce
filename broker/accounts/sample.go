package accounts

import bolt "go.etcd.io/bbolt"

// SampleSealed returns one sealed record of the registry and the additional
// data it was sealed with, for a check that the store's keys still open
// its records (storeedge doctor); ok is false when the registry holds none.
func SampleSealed(tx *bolt.Tx) (sealed, additionalData []byte, ok bool) {
	b := tx.Bucket(bAccounts)
	if b == nil {
		return nil, nil, false
	}
	k, v := b.Cursor().First()
	if k == nil {
		return nil, nil, false
	}
	return append([]byte(nil), v...), ad(bAccounts, string(k)), true
}
