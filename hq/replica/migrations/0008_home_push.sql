-- Notifications at home (hq/webpush): each login's Web Push subscription,
-- and which staff replies were already pushed (one instance sends each).
CREATE TABLE home_push_subscriptions (login text PRIMARY KEY REFERENCES home_logins (id), endpoint text NOT NULL,
  p256dh text NOT NULL, auth text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), failures int NOT NULL DEFAULT 0);
CREATE TABLE home_push_sent (store text NOT NULL, conversation text NOT NULL, seq bigint NOT NULL,
  at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (store, conversation, seq));
