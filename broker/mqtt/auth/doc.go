// Package auth decides who may connect to the store broker and which topics they may use: the device registry, passwords, the topic ACL and a mochi hook that enforces them.
//
// The registry (configs/devices.yaml) lists each device with its role, a
// bcrypt or argon2id password hash and/or the Common Name of its TLS client
// certificate. The ACL (configs/acl.yaml) grants each role the topics it may
// publish, publish retained and subscribe to; everything else is denied. A
// role's deny filters win over its grants: a topic they match is neither
// published nor delivered, and a subscription entirely inside one is refused.
//
// Customers are not in the registry: they log in with a short-lived
// credential from a scan-to-chat QR code, username = customer id (starting
// with CustomerPrefix), checked by the Customers set with Hook.SetCustomers,
// and get the ACL's customer role only while their session is active. The
// ACL placeholder %m (e.g. chat/%m/events) is decided by the Membership set
// with Hook.SetMembership, at every subscribe and delivery, so a customer
// receives only its own conversations and stops when removed from one.
//
// Hook plugs both into mochi: OnConnect limits connection attempts per source
// address and enforces the client identifier rule (the device id, or
// "<device id>:<suffix>"), OnConnectAuthenticate checks credentials and the
// Last Will topic, OnACLCheck and OnPublish check every publish, subscription
// and delivery against the client's grants. Reload swaps registry and ACL
// atomically (SIGHUP); deliveries are checked too, so revoking a grant also
// silences subscriptions that already exist.
package auth
