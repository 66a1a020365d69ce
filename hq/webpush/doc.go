// Package webpush tells a customer at home that her store answered while her
// page is closed: it keeps the page's Web Push subscriptions (one per
// login), signs with HQ's VAPID key (RFC 8292) and sends an encrypted
// notification (RFC 8291, aes128gcm) when a staff reply lands in the
// replica. It learns of replies from PostgreSQL's notifications on the
// channel hq_messages, so every instance of storeedge-hq hears each one;
// the table home_push_sent lets exactly one of them send it.
package webpush
