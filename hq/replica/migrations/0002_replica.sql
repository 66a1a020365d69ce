-- What the replica's write side adds to the first schema.

-- When the current online run began (the first online status after an
-- offline one): a Last Will (its ts is its connection's start) sets the
-- store offline only if it is not older than this.
ALTER TABLE stores ADD COLUMN online_since timestamptz;

-- The epoch a resync request is about (a request names a stream of the
-- store's current epoch).
ALTER TABLE resync_requests ADD COLUMN epoch text NOT NULL DEFAULT '';
CREATE INDEX resync_requests_open ON resync_requests (store, stream, status);

-- Read receipts of a conversation: how far each member has read.
CREATE TABLE conversation_reads (store text NOT NULL, conversation text NOT NULL, member text NOT NULL,
  up_to bigint NOT NULL DEFAULT 0, at timestamptz, PRIMARY KEY (store, conversation, member));

-- Pruning of the dedup table by age.
CREATE INDEX seen_at ON seen (at);

-- Merges one telemetry reading's aggregate ({"field": {"min","max","last","at"}},
-- at in Unix milliseconds) into an hour's.
CREATE FUNCTION hq_telemetry_merge(old jsonb, new jsonb) RETURNS jsonb AS $$
  SELECT COALESCE(jsonb_object_agg(k, CASE
      WHEN old -> k IS NULL THEN new -> k
      WHEN new -> k IS NULL THEN old -> k
      ELSE jsonb_build_object(
        'min', LEAST((old -> k ->> 'min')::float8, (new -> k ->> 'min')::float8),
        'max', GREATEST((old -> k ->> 'max')::float8, (new -> k ->> 'max')::float8),
        'last', CASE WHEN (new -> k ->> 'at')::bigint >= (old -> k ->> 'at')::bigint
                     THEN new -> k -> 'last' ELSE old -> k -> 'last' END,
        'at', GREATEST((old -> k ->> 'at')::bigint, (new -> k ->> 'at')::bigint))
    END), '{}'::jsonb)
  FROM (SELECT jsonb_object_keys(old) AS k UNION SELECT jsonb_object_keys(new)) keys
$$ LANGUAGE sql IMMUTABLE;
