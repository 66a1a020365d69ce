package scale_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/firmware-sim/fleet"
	"github.com/storeedge/storeedge/hq/scale"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
)

var (
	benchBinOnce sync.Once
	benchBin     string
	benchBinErr  error
)

// benchRig is a fresh HQ (mosquitto, a database, `instances` storeedge-hq).
func benchRig(b *testing.B, instances int, yaml string) (*mosquittotest.Broker, *pgx.Conn, []*scale.Proc, int) {
	b.Helper()
	benchBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hq-scale-bench-")
		if err != nil {
			benchBinErr = err
			return
		}
		benchBin, benchBinErr = scale.Build(context.Background(), dir)
	})
	if benchBinErr != nil {
		b.Fatal(benchBinErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mq := mosquittotest.Start(b, mosquittotest.Options{Extra: mosquittoConf})
	pg := pgtest.Start(b)
	keys, err := scale.NewSealKeys()
	if err != nil {
		b.Fatal(err)
	}
	c := scale.HQConfig{Bin: benchBin, Dir: b.TempDir(), Postgres: pg.URL, MQTT: "mqtt://" + mq.Addr, Keys: keys, YAML: yaml}
	var procs []*scale.Proc
	for i := range instances {
		p, err := c.Start(ctx, fmt.Sprintf("hq-%d", i+1))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(p.Kill)
		procs = append(procs, p)
	}
	db, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close(context.Background()) })
	_, port, _ := net.SplitHostPort(pg.Addr())
	pgPID, err := scale.ListenerPID(port)
	if err != nil {
		b.Fatal(err)
	}
	return mq, db, procs, pgPID
}

// cpu is a process tree's CPU seconds so far.
func cpu(b *testing.B, pid int) float64 {
	b.Helper()
	s, err := scale.TreeCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkHQIngest is the replica's ingest rate: 1 000 stores' messages
// (30 each: chat messages and booking changes, HQ_BENCH_PER_STORE) wait
// in HQ's broker for the storeedge-hq instances, which were subscribed and
// then stopped (the morning after HQ was down); the instances start again
// and the rate is the messages applied to PostgreSQL per second from the
// first commit to the last, with 1, 2 and 4 instances against one
// mosquitto and one PostgreSQL, all on this machine. x_published_msg/s is
// how fast the simulated stores got the same messages into mosquitto.
func BenchmarkHQIngest(b *testing.B) {
	stores := 1000
	per := 30
	if v := os.Getenv("HQ_BENCH_PER_STORE"); v != "" {
		if _, err := fmt.Sscan(v, &per); err != nil || per <= 0 {
			b.Fatalf("HQ_BENCH_PER_STORE=%q", v)
		}
	}
	for _, instances := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("instances=%d", instances), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				workers := 32 / instances
				mq, db, procs, pgPID := benchRig(b, instances, fmt.Sprintf("ingest:\n  workers: %d\npostgres:\n  max_conns: %d\n", workers, workers+4))
				for _, p := range procs {
					p.Stop() // subscribed, then gone: the broker keeps their messages
				}
				ctx, cancel := context.WithCancel(context.Background())
				f, err := fleet.Start(ctx, fleet.Options{Broker: mq.Addr, Stores: stores, Manual: true, Ramp: time.Nanosecond})
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				for _, s := range f.Stores() {
					if err := s.FileSpan(per, time.Second, fleet.KindChat, fleet.KindBooking); err != nil {
						b.Fatal(err)
					}
				}
				dctx, dcancel := context.WithTimeout(ctx, 5*time.Minute)
				if err := f.WaitDrained(dctx); err != nil {
					b.Fatal(err)
				}
				dcancel()
				published := time.Since(start)
				total := int64(stores * per)

				pgBefore := cpu(b, pgPID)
				b.StartTimer()
				var wg sync.WaitGroup
				errs := make(chan error, len(procs))
				for _, p := range procs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						sctx, scancel := context.WithTimeout(ctx, time.Minute)
						defer scancel()
						if err := p.Start(sctx); err != nil {
							errs <- err
						}
					}()
				}
				deadline := time.Now().Add(5 * time.Minute)
				var applied int64
				var first time.Time
				for applied < total {
					if err := db.QueryRow(ctx, `SELECT coalesce(sum(applied), 0) FROM streams`).Scan(&applied); err != nil {
						b.Fatal(err)
					}
					if first.IsZero() && applied > 0 {
						first = time.Now()
					}
					select {
					case err := <-errs:
						b.Fatal(err)
					default:
					}
					if time.Now().After(deadline) {
						b.Fatalf("%d of %d applied after 5 min", applied, total)
					}
					time.Sleep(10 * time.Millisecond) // poll interval
				}
				el := time.Since(first)
				b.StopTimer()
				wg.Wait()
				pgCPU := cpu(b, pgPID) - pgBefore
				var hqCPU float64
				for _, p := range procs {
					hqCPU += cpu(b, p.PID())
				}
				rep, err := scale.Check(ctx, db, f.Stores())
				if err != nil || !rep.OK() {
					b.Fatalf("replica: %v %v", err, rep)
				}
				b.ReportMetric(float64(total)/el.Seconds(), "msg/s")
				b.ReportMetric(float64(total), "messages")
				b.ReportMetric(float64(total)/published.Seconds(), "x_published_msg/s")
				// CPU per 100 000 messages: what the figures are on a box
				// of your own, whatever else shares this one.
				b.ReportMetric(hqCPU*1e5/float64(total), "hq_cpu_s/100k")
				b.ReportMetric(pgCPU*1e5/float64(total), "pg_cpu_s/100k")
				f.Stop()
				cancel()
				for _, p := range procs {
					p.Kill()
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkHQLag is the lag from a store's commit (the entry's ts) to its
// row in the replica (messages.applied_at, PostgreSQL's clock; same
// machine) for 1 000 stores at a realistic rate (6 entries a minute
// each) with two storeedge-hq instances, over 30 s (HQ_BENCH_LAG_FOR).
func BenchmarkHQLag(b *testing.B) {
	run := 30 * time.Second
	if v := os.Getenv("HQ_BENCH_LAG_FOR"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		run = d
	}
	for range b.N {
		b.StopTimer()
		mq, db, procs, _ := benchRig(b, 2, "")
		ctx, cancel := context.WithCancel(context.Background())
		f, err := fleet.Start(ctx, fleet.Options{Broker: mq.Addr, Stores: 1000, Rate: 6, Ramp: 5 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		time.Sleep(run) // the measured window: the stores work at their own pace
		f.StopFiling()
		dctx, dcancel := context.WithTimeout(ctx, time.Minute)
		if err := f.WaitDrained(dctx); err != nil {
			b.Fatal(err)
		}
		dcancel()
		var rep scale.Report
		deadline := time.Now().Add(time.Minute)
		for {
			rep, err = scale.Check(ctx, db, f.Stores())
			if err == nil && rep.OK() {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("replica: %v %v", err, rep)
			}
			time.Sleep(100 * time.Millisecond) // poll interval
		}
		b.StopTimer()
		b.ReportMetric(float64(rep.Quantile(0.5).Microseconds())/1000, "lag_p50_ms")
		b.ReportMetric(float64(rep.Quantile(0.99).Microseconds())/1000, "lag_p99_ms")
		b.ReportMetric(float64(len(rep.Lags)), "messages")
		b.ReportMetric(float64(len(rep.Lags))/run.Seconds(), "chat_msg/s")
		f.Stop()
		cancel()
		for _, p := range procs {
			p.Kill()
		}
		b.StartTimer()
	}
}
