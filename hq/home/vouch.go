package home

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/proto"
)

// uplink applies the stores' vouches and revokes in the replica's
// transaction.
type uplink struct {
	log    *slog.Logger
	counts *prometheus.CounterVec
}

// Handlers are the replica's handlers of home/vouch and home/revoke. They
// need nothing but the transaction they are given, so they are made before
// the replica opens; reg (may be nil) gets their counter
// storeedge_hq_home_uplink_total{topic,result}.
func Handlers(log *slog.Logger, reg prometheus.Registerer) (map[string]replica.TopicHandler, error) {
	if log == nil {
		log = slog.Default()
	}
	u := &uplink{log: log, counts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "storeedge_hq_home_uplink_total",
		Help: "Vouches and revokes from the stores, by topic and result (applied, or why refused)."}, []string{"topic", "result"})}
	if reg != nil {
		if err := reg.Register(u.counts); err != nil {
			return nil, fmt.Errorf("home: metrics: %w", err)
		}
	}
	return map[string]replica.TopicHandler{proto.TopicHomeVouch: u, proto.TopicHomeRevoke: u}, nil
}

// refused is a vouch or revoke HQ does not believe: it is acknowledged and
// skipped (replica.ErrBadMessage), counted and logged.
type refused struct{ reason, msg string }

func (r *refused) Error() string { return r.msg }

func refuse(reason, format string, a ...any) error {
	return &refused{reason: reason, msg: fmt.Sprintf(format, a...)}
}

// ApplyUplink checks and applies one vouch or revoke.
func (u *uplink) ApplyUplink(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	var err error
	switch m.LocalTopic {
	case proto.TopicHomeVouch:
		err = u.vouch(ctx, tx, m)
	case proto.TopicHomeRevoke:
		err = u.revoke(ctx, tx, m)
	default:
		err = refuse("topic", "topic %s is not a vouch or a revoke", m.LocalTopic)
	}
	var rf *refused
	if errors.As(err, &rf) {
		u.counts.WithLabelValues(m.LocalTopic, rf.reason).Inc()
		u.log.Warn("a store's word about a customer at home was refused", "store", m.Store, "topic", m.LocalTopic,
			"origin", m.Origin, "why", rf.msg)
		return fmt.Errorf("%w: %s", replica.ErrBadMessage, rf.msg)
	}
	if err == nil {
		u.counts.WithLabelValues(m.LocalTopic, "applied").Inc()
	}
	return err
}

// verifySigned checks a signed word of store without the database: the
// version, the uplink's store, and the signature under key.
func verifySigned(m hq.Message, v int, store, key, sig string, signed []byte) error {
	if v != 1 {
		return refuse("version", "version %d is not 1", v)
	}
	if store != m.Store {
		return refuse("other_store", "it names store %q but came from store %q", store, m.Store)
	}
	pub, err := base64.StdEncoding.DecodeString(key)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return refuse("bad_key", "its key is not an Ed25519 public key")
	}
	s, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || !ed25519.Verify(ed25519.PublicKey(pub), signed, s) {
		return refuse("bad_signature", "its signature does not verify under the key it names")
	}
	return nil
}

// parseVouch decodes and verifies a vouch (all but the pinned key).
func parseVouch(m hq.Message) (proto.HomeVouch, error) {
	var v proto.HomeVouch
	if err := json.Unmarshal(m.Payload, &v); err != nil {
		return v, refuse("bad_payload", "the vouch does not decode: %v", err)
	}
	if err := verifySigned(m, v.V, v.Store, v.Key, v.Sig, proto.HomeVouchSigned(v)); err != nil {
		return v, err
	}
	if v.ID == "" || v.Customer == "" || len(v.CodeHash) != 64 || v.Expires.IsZero() {
		return v, refuse("bad_payload", "the vouch lacks its id, customer, code hash or expiry")
	}
	return v, nil
}

// parseRevoke decodes and verifies a revoke (all but the pinned key).
func parseRevoke(m hq.Message) (proto.HomeRevoke, error) {
	var v proto.HomeRevoke
	if err := json.Unmarshal(m.Payload, &v); err != nil {
		return v, refuse("bad_payload", "the revoke does not decode: %v", err)
	}
	if err := verifySigned(m, v.V, v.Store, v.Key, v.Sig, proto.HomeRevokeSigned(v)); err != nil {
		return v, err
	}
	if v.Customer == "" {
		return v, refuse("bad_payload", "the revoke names no customer")
	}
	return v, nil
}

// checkPinned checks key against the store's pinned key, pinning it at
// first sight.
func checkPinned(ctx context.Context, tx pgx.Tx, store, key string) error {
	var pinned string
	err := tx.QueryRow(ctx, `WITH ins AS (INSERT INTO home_store_keys (store, key) VALUES ($1, $2) ON CONFLICT (store) DO NOTHING RETURNING key)
		SELECT key FROM ins UNION ALL SELECT key FROM home_store_keys WHERE store = $1 LIMIT 1`, store, key).Scan(&pinned)
	if err != nil {
		return fmt.Errorf("home: pinned key of %s: %w", store, err)
	}
	if pinned != key {
		return refuse("other_key", "it is signed with a key other than the one HQ pinned for this store")
	}
	return nil
}

func (u *uplink) vouch(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	v, err := parseVouch(m)
	if err != nil {
		return err
	}
	if err := checkPinned(ctx, tx, m.Store, v.Key); err != nil {
		return err
	}
	// A code hash already vouched keeps its first vouch (a replay changes nothing).
	_, err = tx.Exec(ctx, `INSERT INTO home_vouches (store, code_hash, id, customer, name, expires, replace)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (store, code_hash) DO NOTHING`,
		v.Store, v.CodeHash, v.ID, v.Customer, v.Name, v.Expires, v.Replace)
	if err != nil {
		return fmt.Errorf("home: vouch: %w", err)
	}
	return nil
}

func (u *uplink) revoke(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	v, err := parseRevoke(m)
	if err != nil {
		return err
	}
	if err := checkPinned(ctx, tx, m.Store, v.Key); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE home_logins SET revoked_at = now(), revoked_by = 'store'
		WHERE revoked_at IS NULL AND home_customer IN (SELECT id FROM home_customers WHERE store = $1 AND customer = $2)`,
		v.Store, v.Customer)
	if err != nil {
		return fmt.Errorf("home: revoke: %w", err)
	}
	// Codes not yet redeemed die with the logins.
	if _, err := tx.Exec(ctx, `UPDATE home_vouches SET used_at = now() WHERE store = $1 AND customer = $2 AND used_at IS NULL`,
		v.Store, v.Customer); err != nil {
		return fmt.Errorf("home: revoke: %w", err)
	}
	return nil
}
