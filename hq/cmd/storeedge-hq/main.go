// Command storeedge-hq is HQ's side of storeedge: it consumes every
// store's uplink from HQ's MQTT 5 broker into the PostgreSQL replica
// (hq/ingest, hq/replica) and serves HQ's pages and API over HTTP, with
// /healthz, /readyz and /metrics. Run as many instances as you like
// against one broker and one database, each with its own -client-id.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/storeedge/storeedge/hq/config"
	"github.com/storeedge/storeedge/hq/home"
	"github.com/storeedge/storeedge/hq/ingest"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/hq/web"
)

var version = "dev"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "storeedge-hq:", err)
		os.Exit(1)
	}
}

func run() error {
	cfgPath := flag.String("config", "", "configuration file read over the built-in hq.yaml")
	pgURL := flag.String("postgres", "", "PostgreSQL URL (overrides postgres.url)")
	mqttURL := flag.String("mqtt", "", "HQ's MQTT broker URL (overrides mqtt.url)")
	listen := flag.String("listen", "", "HTTP address (overrides listen)")
	clientID := flag.String("client-id", "", "MQTT client id of this instance (overrides mqtt.client_id)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println("storeedge-hq", version)
		return nil
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if *pgURL != "" {
		cfg.Postgres.URL = *pgURL
	}
	if *mqttURL != "" {
		cfg.MQTT.URL = *mqttURL
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *clientID != "" {
		cfg.MQTT.ClientID = *clientID
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	if flag.Arg(0) == "key" {
		return keyCommand(context.Background(), cfg, flag.Args()[1:])
	}
	keys, created, err := cfg.Keys()
	if err != nil {
		return err
	}
	if created {
		log.Warn("made a new key that seals message bodies; keep a copy of it away from the database", "file", cfg.Seal.KeysFile)
	}
	password, err := cfg.Password()
	if err != nil {
		return err
	}
	tlsCfg, err := cfg.TLS()
	if err != nil {
		return err
	}
	brokerURL, _ := url.Parse(cfg.MQTT.URL) // validated

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The uplink the replica applies with others' handlers: the downlink's
	// answers, the page at home's vouches and revokes, and its parts'.
	handlers := downlinkHandlers(log)
	homeHandlers, err := home.Handlers(log, reg)
	if err != nil {
		return err
	}
	for _, hs := range []map[string]replica.TopicHandler{homeHandlers, homePartHandlers(log)} {
		for topic, h := range hs {
			handlers[topic] = h
		}
	}
	openCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	rep, err := replica.Open(openCtx, cfg.Postgres.URL, replica.Options{Keys: keys, MaxConns: cfg.Postgres.MaxConns, Logger: log,
		Handlers: handlers})
	cancel()
	if err != nil {
		return err
	}
	defer rep.Close()
	consumer, err := ingest.New(ingest.Options{
		Replica: rep, Brokers: []*url.URL{brokerURL}, ClientID: cfg.ClientID(), Group: cfg.MQTT.Group,
		Username: cfg.MQTT.Username, Password: password, TLS: tlsCfg,
		SessionExpiry: cfg.MQTT.SessionExpiry, ReceiveMaximum: uint16(cfg.MQTT.ReceiveMaximum),
		Workers: cfg.Ingest.Workers, Batch: cfg.Ingest.Batch, GapWait: cfg.Ingest.GapWait, SeenKeep: cfg.Ingest.SeenKeep,
		DrainTimeout: cfg.Ingest.DrainTimeout, Registerer: reg, Logger: log,
	})
	if err != nil {
		return err
	}

	down, closeDown, err := startDownlink(ctx, cfg, rep, log)
	if err != nil {
		return err
	}
	defer func() { _ = closeDown(context.Background()) }()

	homeSrv, closeHome, err := startHome(ctx, cfg, rep, keys, reg, log)
	if err != nil {
		return err
	}
	defer func() { _ = closeHome(context.Background()) }()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		var problems []string
		if err := rep.Pool().Ping(pctx); err != nil {
			problems = append(problems, "database: "+err.Error())
		}
		if !consumer.Ready() {
			problems = append(problems, "broker: not connected and subscribed")
		}
		if len(problems) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			for _, p := range problems {
				fmt.Fprintln(w, p)
			}
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", webHandler(rep, down, cfg.Web, log))
	mux.Handle("/home/", homeSrv.Handler()) // the customers' page at home and its API

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Serve(ln) }()
	log.Info("storeedge-hq started", "version", version, "http", "http://"+ln.Addr().String()+"/",
		"mqtt", cfg.MQTT.URL, "client_id", cfg.ClientID(), "group", cfg.MQTT.Group, "schema", replica.SchemaVersion())

	ingestDone := make(chan error, 1)
	go func() { ingestDone <- consumer.Run(ctx) }()

	var runErr error
	select {
	case <-ctx.Done():
		runErr = <-ingestDone // stops taking messages, finishes and acknowledges those held
	case err := <-httpDone:
		runErr = fmt.Errorf("http: %w", err)
		stop()
		<-ingestDone
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http shutdown", "err", err)
	}
	log.Info("storeedge-hq stopped", "stats", fmt.Sprintf("%+v", consumer.Stats()))
	return runErr
}

// webHandler is HQ's pages and API (hq/web), mounted at "/"; down is the
// notices and config pushes API, served behind hq/web's sign-in, which
// sets the X-HQ-Actor it trusts.
func webHandler(rep *replica.Replica, down http.Handler, cfg web.Config, log *slog.Logger) http.Handler {
	return web.New(web.Options{Replica: rep, Down: down, Logger: log, Config: cfg})
}

// keyCommand runs "storeedge-hq [flags] key add|list|revoke …" against the
// replica's database.
func keyCommand(ctx context.Context, cfg config.Config, args []string) error {
	keys, _, err := cfg.Keys()
	if err != nil {
		return err
	}
	rep, err := replica.Open(ctx, cfg.Postgres.URL, replica.Options{Keys: keys, MaxConns: 2})
	if err != nil {
		return err
	}
	defer rep.Close()
	return web.KeyCommand(ctx, rep, args, os.Stdout)
}
