-- hq_take: the ordering step of applying one sequenced uplink message, in
-- one round trip. Locks the (store, epoch, stream) row (making it, and the
-- store's and epoch's rows, when new), records (store, origin) as seen and
-- says what to do:
--   duplicate    the origin was seen before: nothing changes
--   answer       a resync answer: the caller acts on it, then orders it
--   stale        the stream is past this sseq (a range given up)
--   parked       ahead of a gap: kept in parked, the gap's clock started
--   apply        next in line, nothing parked: applied is set to it
--   apply_drain  next in line and messages are parked: the caller applies
--                it, then drains
-- applied is the stream's applied sseq before the message.
CREATE FUNCTION hq_take(p_store text, p_epoch text, p_stream text, p_sseq bigint, p_origin text,
  p_topic text, p_seq bigint, p_stored timestamptz, p_payload bytea, p_answer boolean)
RETURNS TABLE (verdict text, applied bigint) LANGUAGE plpgsql AS $$
DECLARE
  a bigint;
  g timestamptz;
BEGIN
  SELECT s.applied, s.gap_since INTO a, g FROM streams s
    WHERE s.store = p_store AND s.epoch = p_epoch AND s.stream = p_stream FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO streams (store, epoch, stream) VALUES (p_store, p_epoch, p_stream) ON CONFLICT DO NOTHING;
    IF FOUND THEN
      INSERT INTO stores (store, epoch) VALUES (p_store, p_epoch) ON CONFLICT DO NOTHING;
      IF p_epoch <> '' THEN
        INSERT INTO store_epochs (store, epoch) VALUES (p_store, p_epoch) ON CONFLICT DO NOTHING;
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

-- The streams waiting on a gap, for Gaps.
CREATE INDEX streams_gaps ON streams (gap_since) WHERE gap_since IS NOT NULL;
