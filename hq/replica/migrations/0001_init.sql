-- The replica's first schema: every store's link state, streams, dedup, and
-- the data it sends (chat, bookings, shop info, devices, telemetry, media),
-- plus the tables of HQ's downlink and API keys.
CREATE TABLE stores (store text PRIMARY KEY, name text NOT NULL DEFAULT '', epoch text NOT NULL DEFAULT '',
  version text NOT NULL DEFAULT '', online boolean NOT NULL DEFAULT false, status_at timestamptz,
  last_seen timestamptz, backlog bigint NOT NULL DEFAULT 0, backlog_bytes bigint NOT NULL DEFAULT 0,
  oldest_at timestamptz, clock_skew_ms bigint NOT NULL DEFAULT 0, last_error text NOT NULL DEFAULT '',
  errors bigint NOT NULL DEFAULT 0, time_zone text NOT NULL DEFAULT '', first_seen timestamptz NOT NULL DEFAULT now());
CREATE TABLE store_epochs (store text NOT NULL, epoch text NOT NULL, reason text NOT NULL DEFAULT '',
  started timestamptz, announced_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (store, epoch));
CREATE TABLE streams (store text NOT NULL, epoch text NOT NULL, stream text NOT NULL, applied bigint NOT NULL DEFAULT 0,
  gap_since timestamptz, PRIMARY KEY (store, epoch, stream));
CREATE TABLE parked (store text NOT NULL, epoch text NOT NULL, stream text NOT NULL, sseq bigint NOT NULL,
  topic text NOT NULL, origin text NOT NULL, seq bigint NOT NULL, stored timestamptz, received timestamptz NOT NULL DEFAULT now(),
  payload bytea NOT NULL, PRIMARY KEY (store, epoch, stream, sseq));
CREATE TABLE stream_skips (store text, epoch text, stream text, from_sseq bigint, to_sseq bigint, at timestamptz DEFAULT now());
CREATE TABLE seen (store text NOT NULL, origin text NOT NULL, at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (store, origin));
CREATE TABLE devices (store text NOT NULL, device text NOT NULL, online boolean NOT NULL DEFAULT false,
  last_seen timestamptz, status jsonb, PRIMARY KEY (store, device));
CREATE TABLE conversations (store text NOT NULL, conversation text NOT NULL, customer text NOT NULL DEFAULT '',
  opened_at timestamptz, last_at timestamptz, last_seq bigint NOT NULL DEFAULT 0,
  first_customer_at timestamptz, first_reply_at timestamptz, PRIMARY KEY (store, conversation));
CREATE TABLE messages (store text NOT NULL, conversation text NOT NULL, seq bigint NOT NULL, id text NOT NULL DEFAULT '',
  sender text NOT NULL DEFAULT '', kind text NOT NULL DEFAULT '', ts timestamptz, auto boolean NOT NULL DEFAULT false,
  recalled boolean NOT NULL DEFAULT false, body bytea, stored timestamptz, applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (store, conversation, seq));
CREATE TABLE bookings (store text NOT NULL, booking text NOT NULL, customer text NOT NULL DEFAULT '', service text NOT NULL DEFAULT '',
  start_at timestamptz, end_at timestamptz, status text NOT NULL DEFAULT '', stage text NOT NULL DEFAULT '',
  resources text[] NOT NULL DEFAULT '{}', source text NOT NULL DEFAULT '', rev int NOT NULL DEFAULT 0,
  hq_request text NOT NULL DEFAULT '', updated_at timestamptz, PRIMARY KEY (store, booking));
CREATE TABLE booking_changes (store text NOT NULL, epoch text NOT NULL, seq bigint NOT NULL, booking text NOT NULL DEFAULT '',
  type text NOT NULL, ts timestamptz, change jsonb NOT NULL, PRIMARY KEY (store, epoch, seq));
CREATE TABLE hq_outcomes (store text NOT NULL, request text NOT NULL, customer text NOT NULL DEFAULT '', ok boolean NOT NULL,
  booking text NOT NULL DEFAULT '', code text NOT NULL DEFAULT '', ts timestamptz, outcome jsonb NOT NULL, PRIMARY KEY (store, request));
CREATE TABLE shop_info (store text PRIMARY KEY, version bigint NOT NULL DEFAULT 0, info jsonb NOT NULL, ts timestamptz NOT NULL);
CREATE TABLE audit_entries (store text NOT NULL, seq bigint NOT NULL, entry jsonb NOT NULL, PRIMARY KEY (store, seq));
CREATE TABLE telemetry_hourly (store text NOT NULL, device text NOT NULL, hour timestamptz NOT NULL, n bigint NOT NULL DEFAULT 0,
  agg jsonb NOT NULL DEFAULT '{}', PRIMARY KEY (store, device, hour));
CREATE TABLE media (store text NOT NULL, hash text NOT NULL, mime text NOT NULL DEFAULT '', size bigint NOT NULL DEFAULT 0,
  data bytea NOT NULL, at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (store, hash));
CREATE TABLE notices (id text PRIMARY KEY, kind text NOT NULL, title text NOT NULL, body text NOT NULL DEFAULT '',
  target text[] NOT NULL DEFAULT '{}' /* empty = all stores */, sent_by text NOT NULL, sent_at timestamptz NOT NULL, expires timestamptz);
CREATE TABLE notice_deliveries (notice text NOT NULL, store text NOT NULL, acked_at timestamptz NOT NULL, PRIMARY KEY (notice, store));
CREATE TABLE config_pushes (store text NOT NULL, version bigint NOT NULL, id text NOT NULL UNIQUE, push jsonb NOT NULL,
  sent_by text NOT NULL, sent_at timestamptz NOT NULL, state text NOT NULL DEFAULT 'sent' /* sent|applied|refused */,
  code text NOT NULL DEFAULT '', reason text NOT NULL DEFAULT '', errors jsonb, answered_at timestamptz, PRIMARY KEY (store, version));
CREATE TABLE resync_requests (id text PRIMARY KEY, store text NOT NULL, stream text NOT NULL DEFAULT '', from_sseq bigint, to_sseq bigint,
  snapshot boolean NOT NULL DEFAULT false, asked_at timestamptz NOT NULL DEFAULT now(), status text NOT NULL DEFAULT 'asked', answered_at timestamptz);
CREATE TABLE hq_audit (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), actor text NOT NULL, action text NOT NULL,
  target text NOT NULL DEFAULT '', detail jsonb);
CREATE TABLE api_keys (id text PRIMARY KEY, name text NOT NULL, hash bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), revoked_at timestamptz);
