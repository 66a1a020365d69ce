package scale_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/firmware-sim/fleet"
	"github.com/storeedge/storeedge/hq/scale"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hq-scale-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath, buildErr = scale.Build(context.Background(), dir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// envInt and envDuration read the longer runs' settings.
func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a duration", name, v)
	}
	return d
}

// rig is HQ: a mosquitto that persists its sessions, a PostgreSQL
// database, and storeedge-hq instances.
type rig struct {
	mq    *mosquittotest.Broker
	hq    scale.HQConfig
	procs []*scale.Proc
	db    *pgx.Conn
	url   string
}

// mosquittoConf lets each HQ instance's Receive Maximum bound what is in
// flight to it (mosquitto's default of 20 per client would throttle HQ).
const mosquittoConf = "max_inflight_messages 0\n"

func newRig(t *testing.T, instances int, yaml string) *rig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := &rig{mq: mosquittotest.Start(t, mosquittotest.Options{Persistence: true, Extra: mosquittoConf})}
	pg := pgtest.Start(t)
	keys, err := scale.NewSealKeys()
	if err != nil {
		t.Fatal(err)
	}
	r.url = pg.URL
	r.hq = scale.HQConfig{Bin: binary(t), Dir: t.TempDir(), Postgres: pg.URL, MQTT: "mqtt://" + r.mq.Addr, Keys: keys, YAML: yaml}
	for i := range instances {
		p, err := r.hq.Start(ctx, fmt.Sprintf("hq-%d", i+1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Kill)
		r.procs = append(r.procs, p)
	}
	if r.db, err = pgx.Connect(ctx, pg.URL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.db.Close(context.Background()) })
	return r
}

// logs is every instance's log, for a failure.
func (r *rig) logs() string {
	var b strings.Builder
	for _, p := range r.procs {
		l := p.Log()
		if len(l) > 6000 {
			l = "…" + l[len(l)-6000:]
		}
		fmt.Fprintf(&b, "\n---- %s:\n%s", p.Name, l)
	}
	return b.String()
}

// waitReplica checks the replica until it matches the stores.
func (r *rig) waitReplica(t *testing.T, stores []*fleet.Store, within time.Duration) scale.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		rep, err := scale.Check(ctx, r.db, stores)
		if err == nil && rep.OK() {
			return rep
		}
		if err == nil && !rep.Sound() {
			t.Fatalf("the replica is wrong: %v%s", rep, r.logs())
		}
		if ctx.Err() != nil {
			t.Fatalf("the replica does not match the stores after %v: %v %v%s", within, err, rep, r.logs())
		}
		time.Sleep(250 * time.Millisecond) // poll interval
	}
}

// watch checks the replica every few seconds while the stores work, on a
// connection of its own; stop returns the first report that was not
// sound (a message applied out of order, a row nobody filed), if any.
func (r *rig) watch(t *testing.T, url string, stores []*fleet.Store) (stop func() *scale.Report) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	var bad *scale.Report
	var checks int
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer db.Close(context.Background())
		for ctx.Err() == nil {
			rep, err := scale.Check(ctx, db, stores)
			if err == nil {
				checks++
				if !rep.Sound() && bad == nil {
					bad = &rep
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second): // the watch's period
			}
		}
	}()
	return func() *scale.Report {
		cancel()
		<-done
		t.Logf("the replica was checked %d times while the stores worked", checks)
		return bad
	}
}

// closeStreams files one more chat message and booking change per store,
// so that a message lost at the broker at the very end is a gap HQ sees.
func closeStreams(t *testing.T, f *fleet.Fleet) {
	t.Helper()
	for _, s := range f.Stores() {
		for _, k := range []string{fleet.KindChat, fleet.KindBooking} {
			if _, err := s.File(k); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A thousand stores at a realistic rate, two storeedge-hq instances: one
// is killed with SIGKILL mid-run and started again, and HQ's broker is
// restarted; every chat message and booking change is in the replica once,
// applied in each store's order. HQ_PROOF_STORES and HQ_PROOF_DURATION make
// it bigger or longer (a soak).
func TestThousandStoresExactlyOnceInOrder(t *testing.T) {
	n := envInt(t, "HQ_PROOF_STORES", 1000)
	run := envDuration(t, "HQ_PROOF_DURATION", time.Minute)
	// gap_wait is short so that a message HQ's broker lost in its restart
	// (mosquitto forgets shared subscriptions then, until the instances
	// subscribe again) is asked again from its store within the test.
	r := newRig(t, 2, "ingest:\n  gap_wait: 3s\n  drain_timeout: 5s\npostgres:\n  max_conns: 24\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, err := fleet.Start(ctx, fleet.Options{Broker: r.mq.Addr, Stores: n, Rate: 6, Ramp: 10 * time.Second,
		StatusEvery: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	stopWatch := r.watch(t, r.url, f.Stores())
	start := time.Now()
	at := func(d time.Duration) { time.Sleep(time.Until(start.Add(d))) } // the run's timeline, not synchronisation

	at(run / 4)
	before := f.Totals()
	r.procs[1].Kill()
	t.Logf("%v: killed %s (kill -9) with %d entries acknowledged", time.Since(start).Round(time.Second), r.procs[1].Name, before.Acked)
	at(run/4 + 5*time.Second)
	sctx, scancel := context.WithTimeout(ctx, time.Minute)
	if err := r.procs[1].Start(sctx); err != nil {
		scancel()
		t.Fatal(err)
	}
	scancel()
	t.Logf("%v: %s started again", time.Since(start).Round(time.Second), r.procs[1].Name)

	at(run / 2)
	r.mq.Restart(t)
	t.Logf("%v: HQ's broker restarted", time.Since(start).Round(time.Second))

	at(run)
	f.StopFiling()
	closeStreams(t, f)
	dctx, dcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer dcancel()
	if err := f.WaitDrained(dctx); err != nil {
		t.Fatal(err)
	}
	tot := f.Totals()
	t.Logf("%v: stores drained: %d entries filed, %d publishes, %d connections", time.Since(start).Round(time.Second), tot.Filed, tot.Sends, tot.Connects)
	if bad := stopWatch(); bad != nil {
		t.Fatalf("the replica was wrong while the stores worked: %v%s", bad, r.logs())
	}
	rep := r.waitReplica(t, f.Stores(), 3*time.Minute)
	t.Logf("%v: replica matches: %v", time.Since(start).Round(time.Second), rep)
	if rep.Chat == 0 || rep.Changes == 0 {
		t.Fatalf("nothing checked: %v", rep)
	}
	var resyncs int64
	for _, s := range f.Stores() {
		resyncs += s.Resyncs()
	}
	t.Logf("resync requests the stores answered: %d", resyncs)

	// Every store's presence: online, nothing waiting.
	var online int
	deadline := time.Now().Add(time.Minute)
	for {
		if err := r.db.QueryRow(ctx, `SELECT count(*) FROM stores WHERE store LIKE 'sim-%' AND online AND backlog = 0`).Scan(&online); err != nil {
			t.Fatal(err)
		}
		if online == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d stores online with no backlog in the replica%s", online, n, r.logs())
		}
		time.Sleep(250 * time.Millisecond) // poll interval
	}
	if strings.Count(r.procs[1].Log(), "---- start") != 2 {
		t.Fatalf("%s did not run twice", r.procs[1].Name)
	}
}

// storeRow is a store's link state in the replica.
type storeRow struct {
	online   bool
	backlog  int64
	oldestAt *time.Time
}

func (r *rig) store(t *testing.T, id string) storeRow {
	t.Helper()
	var s storeRow
	err := r.db.QueryRow(context.Background(), `SELECT online, backlog, oldest_at FROM stores WHERE store = $1`, id).Scan(&s.online, &s.backlog, &s.oldestAt)
	if err != nil && err != pgx.ErrNoRows {
		t.Fatal(err)
	}
	return s
}

// A store offline for three days (simulated clock: its entries are
// stamped over the three days): HQ sees it go offline (its Will), then
// online with the three days' backlog, which falls to 0 as the entries
// drain into the replica in order.
func TestStoreOfflineThreeDaysDrainsInOrder(t *testing.T) {
	r := newRig(t, 2, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, err := fleet.Start(ctx, fleet.Options{Broker: r.mq.Addr, Stores: 20, Rate: 30, Ramp: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	s := f.Stores()[7]
	deadline := time.Now().Add(30 * time.Second)
	for !r.store(t, s.ID).online {
		if time.Now().After(deadline) {
			t.Fatalf("%s never online in the replica%s", s.ID, r.logs())
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}

	s.Cut()
	deadline = time.Now().Add(30 * time.Second)
	for r.store(t, s.ID).online {
		if time.Now().After(deadline) {
			t.Fatalf("%s still online in the replica 30s after its link was cut%s", s.ID, r.logs())
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	// Three days of a store's day: a chat message, a booking change or a
	// reading every two minutes.
	const offline = 72 * time.Hour
	if err := s.FileSpan(int(offline/(2*time.Minute)), offline); err != nil {
		t.Fatal(err)
	}
	held := s.Backlog()
	s.Restore()

	// HQ's view while it catches up: online, the backlog with its age,
	// then empty.
	var sawBacklog bool
	deadline = time.Now().Add(2 * time.Minute)
	for {
		row := r.store(t, s.ID)
		if row.online && row.backlog >= int64(held)/2 && row.oldestAt != nil && time.Since(*row.oldestAt) > offline-time.Hour {
			sawBacklog = true
		}
		if sawBacklog && row.online && row.backlog == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: replica row %+v (saw the backlog: %v) 2 min after it came back with %d entries%s", s.ID, row, sawBacklog, held, r.logs())
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	f.StopFiling()
	closeStreams(t, f)
	dctx, dcancel := context.WithTimeout(ctx, time.Minute)
	defer dcancel()
	if err := f.WaitDrained(dctx); err != nil {
		t.Fatal(err)
	}
	rep := r.waitReplica(t, f.Stores(), 2*time.Minute)
	t.Logf("replica matches: %v", rep)
	var lagged int
	for _, l := range rep.Lags {
		if l > offline-3*time.Minute {
			lagged++
		}
	}
	if lagged == 0 {
		t.Fatalf("no message three days old in the replica: %v", rep)
	}
}
