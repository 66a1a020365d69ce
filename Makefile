# storeedge — the two commands a newcomer needs: `make run` and `make test`.
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# Packages whose tests also run under qemu as the ARM box would run them.
CORE    := ./broker/store/... ./broker/mqtt/session/... ./broker/mqtt/auth/... ./internal/seal/... ./internal/hours/... ./cloudsync/outbox/... ./cloudsync/topicmap/...

# HQ's side: storeedge-hq and `make hq`.
.PHONY: hq
.PHONY: run build demo test test-go test-race test-mochi test-arm lint deps bench dist clean web screenshots mochi-diff

## run: build and start the store broker on the embedded default config (data in ./data)
run: build
	./$(BIN)/storeedge

build:
	$(GO) build -o $(BIN)/storeedge ./broker/cmd/storeedge
	$(GO) build -o $(BIN)/storeedge-hq ./hq/cmd/storeedge-hq

## hq: HQ on this machine: a PostgreSQL and a mosquitto (unless HQ_POSTGRES_URL / HQ_MQTT_URL are set), then storeedge-hq; prints the fleet page's address; Ctrl-C stops all
hq:
	$(GO) build -o $(BIN)/storeedge-hq ./hq/cmd/storeedge-hq
	./scripts/hq-up.sh

## demo: a broker and a small simulated store (kiosks, chat tablets, cameras, staff) for a minute, then a summary
demo: build
	$(GO) build -o $(BIN)/firmware-sim ./firmware-sim
	./$(BIN)/firmware-sim -spawn ./$(BIN)/storeedge -duration 1m $(DEMOFLAGS)

## test: install the test peers when missing, then run every check and test
test: deps lint test-race test-go test-mochi test-arm

## deps: install mosquitto, mosquitto-clients, chromium, a Chinese font (fonts-wqy-microhei), qemu-user-static, postgresql, coturn, iproute2 (ip), lintian, systemd (systemd-analyze) and man-db when missing
deps:
	./scripts/install-test-deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

test-go:
	$(GO) test -count=1 ./...

test-race:
	$(GO) test -race -count=1 ./broker/... ./cloudsync/... ./device/... ./firmware-sim/... ./hq/... ./internal/testkit/pgtest/...

## test-mochi: the tests of storeedge's fixes to mochi (third_party/mochi, its own module)
test-mochi:
	cd third_party/mochi && $(GO) vet ./... && $(GO) test -race -count=1 ./...

## mochi-diff: write third_party/mochi/storeedge.patch, the difference from the mochi release
mochi-diff:
	./scripts/mochi-diff.sh

## test-arm: the core packages' tests as linux/arm64 binaries under qemu
test-arm:
	GOARCH=arm64 CGO_ENABLED=0 $(GO) test -count=1 -exec qemu-aarch64-static $(CORE)

## bench: storeedge side by side with mosquitto (see bench/ for the method)
bench: build
	$(GO) run ./bench -storeedge ./$(BIN)/storeedge $(BENCHFLAGS)
	@echo "== cloudsync: drain of a 100 000-entry outbox to a local mosquitto (target >= 20000 msg/s),"
	@echo "   beside a plain QoS 1 publisher on the same mosquitto (x_plain_publisher), live chat latency during it"
	$(GO) test -run '^$$' -bench OutboxDrain -benchtime 1x -count 3 ./cloudsync/
	@echo "== HQ: replica ingest of 1 000 stores' waiting messages into PostgreSQL with 1, 2 and 4 storeedge-hq"
	@echo "   instances (target >= 10000 msg/s; x_published: the stores into mosquitto), and the lag from a store's"
	@echo "   commit to its replica row at 1 000 stores, 6 entries a minute each, two instances (hq/scale)"
	$(GO) test -run '^$$' -bench 'HQIngest|HQLag' -benchtime 1x -timeout 30m ./hq/scale/
	@echo "== The live view at home: tap on Watch to the first decoded frame, Chromium in a namespace reaching only"
	@echo "   HQ and coturn, over 20 sessions (target p95 <= 600 ms)"
	$(GO) test -run '^$$' -bench HomeTTFF -benchtime 1x -count 3 ./hq/homecam/
	@echo "== At home: a customer's message from HQ's page at home to the store's staff, link up: from her POST to"
	@echo "   the staff client's event, through storeedge-hq, HQ's mosquitto, cloudsync and the chat service (p50-ms, p99-ms)"
	$(GO) test -run '^$$' -bench HomeToConsole -benchtime 200x -count 3 -timeout 10m ./hq/scale/
	@echo "== The assistant on customers' phrasing (broker/services/chat/faq/testdata/eval): correct, wrong automatic"
	@echo "   answers by intent, requests for a person recognised; held out beside tuning (targets >= 95 %, 0 on health, >= 98 %)"
	$(GO) test -run '^$$' -bench AssistantEval -benchtime 1x ./broker/services/chat/faq/
	@echo "== Staff search over a year of chats (40 conversations a day x 365 x 10 messages, sealed, no index):"
	@echo "   rare = a phrase read for in every message; common = the first 50 hits; db-MiB = the database"
	$(GO) test -run '^$$' -bench SearchYear -benchtime 5x ./broker/services/chat/

## resources: the broker's RSS and CPU per message on a simulated store day of 50 devices, native and as the arm64 build under qemu-aarch64-static (a few minutes; flags: RESFLAGS, e.g. RESFLAGS='-duration 10m')
.PHONY: resources
resources:
	$(GO) run ./bench resources $(RESFLAGS)

## web: rebuild the vendored browser MQTT client (broker/web/static/vendor) from broker/web/ui's lock file (needs npm)
web:
	./broker/web/ui/build.sh

## screenshots: run the page tests and copy the screenshots the README shows into docs/screenshots
SHOTS := chat-e2e-reply-read chat-e2e-live chat-zh console-chats console-e2e-board console-health front-en tablet-1024x768
SHOTS += console-phone-chats console-phone-board
SHOTS += setup-zh-phone counter-a4 console-faq-phone
SHOTS += console-desk-tomorrow console-desk-overlap console-tablet-activity
SHOTS += console-team console-team-pairing
SHOTS += hq-fleet-1280 hq-store-1280 hq-fleet-390
screenshots:
	rm -rf out/screenshots
	$(GO) test -count=1 -run 'TestCustomerAndStaff|TestChatPage|TestConsole|TestFrontDoor|TestChatTabletPage|TestSetupPageOpensTheConsole|TestCounterPrintPage|TestTeamTab' ./broker/web/pagetest/
	$(GO) test -count=1 -run 'TestFleetPage' ./hq/web/
	mkdir -p docs/screenshots
	for s in $(SHOTS); do cp out/screenshots/$$s.png docs/screenshots/; done

## dist: static binaries for the store boxes and for amd64
dist:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/storeedge-linux-arm64 ./broker/cmd/storeedge
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/storeedge-linux-armv7 ./broker/cmd/storeedge
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/storeedge-linux-amd64 ./broker/cmd/storeedge
	@ls -l dist/

## deb: Debian packages for the boxes and amd64 (packaging/): dist/storeedge_<version>_{amd64,arm64,armhf}.deb
.PHONY: deb
deb:
	$(GO) run ./packaging/cmd/mkdeb -describe '$(VERSION)' -out dist

clean:
	rm -rf $(BIN) dist
