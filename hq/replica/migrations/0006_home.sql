-- The customers at home (hq/home): the stores' signing keys, their vouches,
-- the customers HQ knows through them, their logins (devices), what they
-- sent from home and the blobs they attached.

-- The first Ed25519 key HQ saw from a store; a vouch under another key is
-- refused (see README, "At home: who can claim to be whom").
CREATE TABLE home_store_keys (store text PRIMARY KEY, key text NOT NULL, pinned_at timestamptz NOT NULL DEFAULT now());

-- A store's word that the holder of a link code is its customer.
CREATE TABLE home_vouches (store text NOT NULL, code_hash text NOT NULL, id text NOT NULL, customer text NOT NULL,
  name text NOT NULL DEFAULT '', expires timestamptz NOT NULL, replace boolean NOT NULL DEFAULT false,
  received_at timestamptz NOT NULL DEFAULT now(), used_at timestamptz, PRIMARY KEY (store, code_hash));

-- A customer at home: one per (store, the store's customer id).
CREATE TABLE home_customers (id text PRIMARY KEY, store text NOT NULL, customer text NOT NULL, name text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(), UNIQUE (store, customer));

-- A login kept on a phone: only the SHA-256 of its token is stored.
CREATE TABLE home_logins (id text PRIMARY KEY, home_customer text NOT NULL REFERENCES home_customers (id),
  hash bytea NOT NULL UNIQUE, device text NOT NULL DEFAULT '', created_at timestamptz NOT NULL DEFAULT now(),
  last_used timestamptz NOT NULL DEFAULT now(), revoked_at timestamptz, revoked_by text NOT NULL DEFAULT '');
CREATE INDEX home_logins_customer ON home_logins (home_customer);

-- What a customer sent from home, as HQ took it (the store's copy arrives
-- in messages, with the same id). body and auto_reply are sealed like
-- messages.body; published_at is when HQ's broker took it for the store.
CREATE TABLE home_messages (id text PRIMARY KEY, home_customer text NOT NULL REFERENCES home_customers (id),
  store text NOT NULL, conversation text NOT NULL, kind text NOT NULL, body bytea, media jsonb,
  auto_reply bytea, sent_at timestamptz NOT NULL DEFAULT now(), recalled_at timestamptz, published_at timestamptz);
CREATE INDEX home_messages_customer ON home_messages (home_customer, sent_at);
-- Those HQ's broker has not taken yet (HQ sends them again, in order).
CREATE INDEX home_messages_unpublished ON home_messages (sent_at) WHERE published_at IS NULL;

-- Blobs a customer attached at home (sealed), until the store has them and after.
CREATE TABLE home_media (store text NOT NULL, hash text NOT NULL, home_customer text NOT NULL REFERENCES home_customers (id),
  type text NOT NULL, size bigint NOT NULL, data bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (store, hash));

-- Every change to a conversation's messages or reads is announced on the
-- channel hq_messages (JSON: store, conversation, and seq, sender and auto
-- for a message or read: true for a read receipt), so pages waiting at
-- home and the push sender learn of it at once, whichever instance
-- applied it.
CREATE FUNCTION hq_messages_notify() RETURNS trigger AS $$
BEGIN
  IF TG_TABLE_NAME = 'messages' THEN
    PERFORM pg_notify('hq_messages', json_build_object('store', NEW.store, 'conversation', NEW.conversation,
      'seq', NEW.seq, 'sender', NEW.sender, 'auto', NEW.auto)::text);
  ELSE
    PERFORM pg_notify('hq_messages', json_build_object('store', NEW.store, 'conversation', NEW.conversation,
      'read', true)::text);
  END IF;
  RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER messages_notify AFTER INSERT OR UPDATE ON messages FOR EACH ROW EXECUTE FUNCTION hq_messages_notify();
CREATE TRIGGER conversation_reads_notify AFTER INSERT OR UPDATE ON conversation_reads FOR EACH ROW EXECUTE FUNCTION hq_messages_notify();

-- Who uploaded a blob (the same bytes sent by two customers are one blob):
-- a customer may attach and fetch only a blob she uploaded herself or one
-- in her conversation.
CREATE TABLE home_media_owners (store text NOT NULL, hash text NOT NULL, home_customer text NOT NULL REFERENCES home_customers (id),
  PRIMARY KEY (store, hash, home_customer));

-- The page finds the store's copy of a message sent from home by its id.
CREATE INDEX messages_id ON messages (store, conversation, id);
