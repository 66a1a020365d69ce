package downlink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/cloudsync"
)

// MQTTOptions configure NewMQTTPublisher.
type MQTTOptions struct {
	// URL of HQ's broker: mqtt://host:port, mqtts://… or ws(s)://…. Required.
	URL string
	// ClientID is this publisher's own client id (one per HQ process).
	// Required.
	ClientID string
	// Username and Password log in to HQ's broker, when it wants them.
	Username, Password string
	// TLS configures mqtts and wss.
	TLS *tls.Config
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// ErrNoSubscribers is a publish HQ's broker acknowledged with "no
// matching subscribers" (0x10): no store's link has subscribed to the
// topic yet, so the message went nowhere.
var ErrNoSubscribers = errors.New("downlink: no store is subscribed to the topic on HQ's broker (0x10)")

// MQTTPublisher publishes on HQ's broker over MQTT 5 with autopaho, which
// reconnects by itself. It implements Publisher.
type MQTTPublisher struct {
	cm *autopaho.ConnectionManager
}

// NewMQTTPublisher starts connecting; Publish waits for the connection.
func NewMQTTPublisher(ctx context.Context, o MQTTOptions) (*MQTTPublisher, error) {
	if o.URL == "" || o.ClientID == "" {
		return nil, errors.New("downlink: MQTTOptions.URL and ClientID are required")
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("downlink: broker url: %w", err)
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	cm, err := autopaho.NewConnection(context.WithoutCancel(ctx), autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		TlsCfg:                        o.TLS,
		KeepAlive:                     30,
		CleanStartOnInitialConnection: true,
		ConnectUsername:               o.Username,
		ConnectPassword:               []byte(o.Password),
		ConnectTimeout:                10 * time.Second,
		OnConnectError: func(err error) {
			log.Warn("downlink: cannot connect to HQ's broker", "url", u.Redacted(), "err", err)
		},
		ClientConfig: paho.ClientConfig{ClientID: o.ClientID},
	})
	if err != nil {
		return nil, fmt.Errorf("downlink: %w", err)
	}
	return &MQTTPublisher{cm: cm}, nil
}

// Publish publishes payload on topic at QoS 1 with the user property id
// and returns once HQ's broker acknowledged it (or ctx ended).
func (p *MQTTPublisher) Publish(ctx context.Context, topic string, payload []byte, id string) error {
	if err := p.cm.AwaitConnection(ctx); err != nil {
		return fmt.Errorf("downlink: HQ's broker: %w", err)
	}
	res, err := p.cm.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload,
		Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: cloudsync.PropID, Value: id}}}})
	if err != nil {
		return fmt.Errorf("downlink: publish %s: %w", topic, err)
	}
	if res != nil && res.ReasonCode == 0x10 {
		return fmt.Errorf("%w: %s", ErrNoSubscribers, topic)
	}
	if res != nil && res.ReasonCode >= 0x80 {
		return fmt.Errorf("downlink: publish %s: refused by HQ's broker (0x%02x %s)", topic, res.ReasonCode, res.Properties.ReasonString)
	}
	return nil
}

// Close disconnects.
func (p *MQTTPublisher) Close(ctx context.Context) error {
	if err := p.cm.Disconnect(ctx); err != nil {
		return fmt.Errorf("downlink: disconnect: %w", err)
	}
	return nil
}
