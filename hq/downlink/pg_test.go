package downlink_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/storeedge/storeedge/hq/downlink"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
	"github.com/storeedge/storeedge/proto"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// openReplica opens HQ's replica on a fresh database (the schema migrated
// as storeedge-hq does it), with ans as the handler of the stores'
// answers, and records the given stores as known (as their first status
// would).
func openReplica(t *testing.T, ans *downlink.Answers, stores ...string) *replica.Replica {
	t.Helper()
	return openReplicaTB(t, ans, stores...)
}

func openReplicaTB(t testing.TB, ans *downlink.Answers, stores ...string) *replica.Replica {
	t.Helper()
	k := make([]byte, seal.KeySize)
	_, _ = rand.Read(k)
	keys, err := seal.ParseKeys("hq1:" + base64.StdEncoding.EncodeToString(k))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := replica.Open(ctx, pgtest.Start(t).URL, replica.Options{Keys: keys,
		Handlers: map[string]replica.TopicHandler{proto.TopicConfigAck: ans, proto.TopicNoticeAck: ans}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	for _, s := range stores {
		if _, err := r.Pool().Exec(ctx, `INSERT INTO stores (store) VALUES ($1)`, s); err != nil {
			t.Fatal(err)
		}
	}
	return r
}
