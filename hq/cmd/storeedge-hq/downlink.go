package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/storeedge/storeedge/hq/config"
	"github.com/storeedge/storeedge/hq/downlink"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/proto"
)

// downlinkHandlers routes the stores' answers to notices and config pushes
// (config/ack, notice/ack) to hq/downlink, inside the replica's
// transaction.
func downlinkHandlers(log *slog.Logger) map[string]replica.TopicHandler {
	ans := downlink.NewAnswers(nil, log)
	return map[string]replica.TopicHandler{proto.TopicConfigAck: ans, proto.TopicNoticeAck: ans}
}

// startDownlink connects the downlink's own publisher to HQ's broker
// (client id {instance}-down) and returns the notices and config pushes
// API (/api/v1/notices, /api/v1/stores/{id}/config), which expects HQ's
// web server to have authenticated the caller (X-HQ-Actor), and a function
// that disconnects the publisher.
func startDownlink(ctx context.Context, cfg config.Config, rep *replica.Replica, log *slog.Logger) (http.Handler, func(context.Context) error, error) {
	password, err := cfg.Password()
	if err != nil {
		return nil, nil, err
	}
	tlsCfg, err := cfg.TLS()
	if err != nil {
		return nil, nil, err
	}
	pub, err := downlink.NewMQTTPublisher(ctx, downlink.MQTTOptions{URL: cfg.MQTT.URL, ClientID: cfg.ClientID() + "-down",
		Username: cfg.MQTT.Username, Password: string(password), TLS: tlsCfg, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	dl, err := downlink.New(downlink.Options{Pool: rep.Pool(), Publisher: pub, Logger: log, Limits: cfg.Downlink})
	if err != nil {
		_ = pub.Close(ctx)
		return nil, nil, fmt.Errorf("downlink: %w", err)
	}
	return dl.Handler(), pub.Close, nil
}
