package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/internal/testkit/faultproxy"
)

// hqSide is HQ for the uplink drill: a mosquitto the store's cloudsync
// links to through a proxy the drill cuts, and a consumer that collects
// what arrives.
type hqSide struct {
	cmd   *exec.Cmd
	addr  string
	proxy *faultproxy.Proxy
	cm    *autopaho.ConnectionManager

	mu      sync.Mutex
	changes map[int]int // booking change seq → copies received
}

func startHQ(ctx context.Context, bin, dir string) (*hqSide, error) {
	if _, err := exec.LookPath(bin); err != nil {
		return nil, fmt.Errorf("sim: the uplink drill needs mosquitto as HQ's broker (Debian package mosquitto): %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(conf, []byte("listener "+port+" 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\npersistence false\n"), 0o600); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	h := &hqSide{addr: addr, changes: map[int]int{}}
	h.cmd = exec.Command(bin, "-c", conf)
	if err := h.cmd.Start(); err != nil {
		return nil, fmt.Errorf("sim: start %s: %w", bin, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			h.close()
			return nil, fmt.Errorf("sim: HQ's mosquitto not listening: %w", err)
		}
		time.Sleep(20 * time.Millisecond) // polls the port until the deadline
	}
	if h.proxy, err = faultproxy.New("127.0.0.1:0", addr); err != nil {
		h.close()
		return nil, fmt.Errorf("sim: %w", err)
	}
	return h, nil
}

// listen subscribes HQ's consumer to the store's uplink, as HQ does (the
// store keeps chat and booking entries no consumer takes), and counts the
// booking changes.
func (h *hqSide) listen(ctx context.Context, store string) error {
	u, _ := url.Parse("mqtt://" + h.addr)
	ready := make(chan error, 1)
	topic := "stores/" + store + "/up/#"
	changes := "stores/" + store + "/up/booking/changes"
	cm, err := autopaho.NewConnection(context.WithoutCancel(ctx), autopaho.ClientConfig{
		ServerUrls: []*url.URL{u}, KeepAlive: 30, SessionExpiryInterval: 3600,
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			go func() {
				_, err := cm.Subscribe(context.Background(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 1}}})
				select {
				case ready <- err:
				default:
				}
			}()
		},
		ClientConfig: paho.ClientConfig{ClientID: "hq-sim-consumer", OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				var c struct{ Seq int }
				if pr.Packet.Topic == changes && json.Unmarshal(pr.Packet.Payload, &c) == nil && c.Seq > 0 {
					h.mu.Lock()
					h.changes[c.Seq]++
					h.mu.Unlock()
				}
				return true, nil
			}}},
	})
	if err != nil {
		return fmt.Errorf("sim: HQ consumer: %w", err)
	}
	h.cm = cm
	select {
	case err := <-ready:
		if err != nil {
			return fmt.Errorf("sim: HQ consumer subscribe: %w", err)
		}
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("sim: HQ consumer not subscribed within 10 s")
	}
}

// seqs is the highest change seq HQ has, and the seqs below it it lacks.
func (h *hqSide) seqs() (highest int, missing []int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.changes {
		highest = max(highest, s)
	}
	for s := 1; s <= highest; s++ {
		if h.changes[s] == 0 {
			missing = append(missing, s)
		}
	}
	return highest, missing
}

func (h *hqSide) close() {
	if h.cm != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = h.cm.Disconnect(ctx)
		cancel()
	}
	if h.proxy != nil {
		_ = h.proxy.Close()
	}
	if h.cmd != nil && h.cmd.Process != nil {
		_ = h.cmd.Process.Kill()
		_ = h.cmd.Wait()
	}
}

func joinInts(s []int) string {
	var b strings.Builder
	for i, n := range s {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprint(&b, n)
		if i == 20 {
			b.WriteString("…")
			break
		}
	}
	return b.String()
}
