-- hq_take without waiting for another transaction's stream: when another
-- instance holds the (store, epoch, stream) row (it is applying earlier
-- messages of the same stream), the message is recorded as seen and parked
-- at once, verdict 'deferred'; the caller drains the stream after its
-- commit (Nudge), when the other transaction has ended. Resync answers
-- still wait: they must act before they are ordered.
CREATE OR REPLACE FUNCTION hq_take(p_store text, p_epoch text, p_stream text, p_sseq bigint, p_origin text,
  p_topic text, p_seq bigint, p_stored timestamptz, p_payload bytea, p_answer boolean)
RETURNS TABLE (verdict text, applied bigint) LANGUAGE plpgsql AS $$
DECLARE
  a bigint;
  g timestamptz;
BEGIN
  SELECT s.applied, s.gap_since INTO a, g FROM streams s
    WHERE s.store = p_store AND s.epoch = p_epoch AND s.stream = p_stream FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    SELECT s.applied INTO a FROM streams s
      WHERE s.store = p_store AND s.epoch = p_epoch AND s.stream = p_stream;
    IF FOUND AND NOT p_answer THEN
      INSERT INTO seen (store, origin) VALUES (p_store, p_origin) ON CONFLICT DO NOTHING;
      IF NOT FOUND THEN
        RETURN QUERY SELECT 'duplicate'::text, a;
        RETURN;
      END IF;
      IF p_sseq <= a THEN
        RETURN QUERY SELECT 'stale'::text, a;
        RETURN;
      END IF;
      INSERT INTO parked (store, epoch, stream, sseq, topic, origin, seq, stored, payload)
        VALUES (p_store, p_epoch, p_stream, p_sseq, p_topic, p_origin, p_seq, p_stored, p_payload)
        ON CONFLICT DO NOTHING;
      RETURN QUERY SELECT 'deferred'::text, a;
      RETURN;
    END IF;
    IF NOT FOUND THEN
      INSERT INTO streams (store, epoch, stream) VALUES (p_store, p_epoch, p_stream) ON CONFLICT DO NOTHING;
      IF FOUND THEN
        INSERT INTO stores (store, epoch) VALUES (p_store, p_epoch) ON CONFLICT DO NOTHING;
        IF p_epoch <> '' THEN
          INSERT INTO store_epochs (store, epoch) VALUES (p_store, p_epoch) ON CONFLICT DO NOTHING;
        END IF;
      END IF;
    END IF;
    SELECT s.applied, s.gap_since INTO a, g FROM streams s
      WHERE s.store = p_store AND s.epoch = p_epoch AND s.stream = p_stream FOR UPDATE;
  END IF;
  INSERT INTO seen (store, origin) VALUES (p_store, p_origin) ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'duplicate'::text, a;
    RETURN;
  END IF;
  IF p_answer THEN
    RETURN QUERY SELECT 'answer'::text, a;
    RETURN;
  END IF;
  IF p_sseq <= a THEN
    RETURN QUERY SELECT 'stale'::text, a;
    RETURN;
  END IF;
  IF p_sseq > a + 1 THEN
    INSERT INTO parked (store, epoch, stream, sseq, topic, origin, seq, stored, payload)
      VALUES (p_store, p_epoch, p_stream, p_sseq, p_topic, p_origin, p_seq, p_stored, p_payload)
      ON CONFLICT DO NOTHING;
    UPDATE streams s SET gap_since = COALESCE(s.gap_since, now())
      WHERE s.store = p_store AND s.epoch = p_epoch AND s.stream = p_stream;
    RETURN QUERY SELECT 'parked'::text, a;
    RETURN;
  END IF;
  IF g IS NULL THEN
    UPDATE streams s SET applied = p_sseq
      WHERE s.store = p_store AND s.epoch = p_epoch AND s.stream = p_stream;
    RETURN QUERY SELECT 'apply'::text, a;
    RETURN;
  END IF;
  RETURN QUERY SELECT 'apply_drain'::text, a;
END
$$;
