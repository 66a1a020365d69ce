// Package webpush tells a customer at home that her store answered while her
// page is closed: it keeps the page's Web Push subscriptions, signs with HQ's
// VAPID key (RFC 8292) and sends an encrypted notification (RFC 8291) when a
// staff reply lands in the replica.
package webpush

// Config is its settings in hq.yaml; zero fields take the defaults.
type Config struct{}
