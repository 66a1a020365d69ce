package sim

import (
	"context"
	"fmt"
	"time"
)

// runDrill injects the drill's fault during the run: the broker restarted
// (cleanly at a third of the run, killed with SIGKILL at two thirds), the
// devices' Wi-Fi dropping a share of them every couple of seconds through
// the middle half, or the link to HQ down for the middle half.
func runDrill(ctx context.Context, o *Options, b *Broker, hq *hqSide, f *flapper) error {
	at := func(share float64) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Duration(float64(o.Duration) * share)):
			return true
		}
	}
	switch o.Drill {
	case DrillBrokerRestart:
		if !at(1.0 / 3) {
			return nil
		}
		for i, kill := range []bool{false, true} {
			o.logf("drill: broker %s", map[bool]string{false: "stopped (SIGTERM) and started again", true: "killed (SIGKILL) and started again"}[kill])
			if err := b.Stop(kill); err != nil {
				return err
			}
			if err := b.Start(context.WithoutCancel(ctx)); err != nil {
				return fmt.Errorf("drill: broker did not come back: %w", err)
			}
			if i == 0 && !at(1.0/3) {
				return nil
			}
		}
	case DrillWifiFlap:
		if !at(0.25) {
			return nil
		}
		end := time.Now().Add(o.Duration / 2)
		for time.Now().Before(end) {
			n := f.drop(0.3)
			o.logf("drill: Wi-Fi dropped %d devices", n)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(max(o.Duration/15, 500*time.Millisecond)):
			}
		}
	case DrillUplinkOutage:
		if !at(0.25) {
			return nil
		}
		o.logf("drill: link to HQ down")
		hq.proxy.Down()
		select {
		case <-ctx.Done():
		case <-time.After(o.Duration / 2):
		}
		hq.proxy.Up()
		o.logf("drill: link to HQ back")
	}
	return nil
}
