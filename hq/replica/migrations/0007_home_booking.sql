-- Bookings and the live view at home (hq/homebook, hq/homecam): the
-- requests a customer made at home, and the stores' live answers
-- (availability, camera) that a waiting request picks up.
-- published_at: when HQ's broker took it for the store (NULL: not yet; the
-- page sends it again under the same id).
CREATE TABLE home_requests (id text PRIMARY KEY, home_customer text NOT NULL REFERENCES home_customers (id),
  store text NOT NULL, kind text NOT NULL, booking text NOT NULL DEFAULT '', body jsonb NOT NULL,
  sent_at timestamptz NOT NULL DEFAULT now(), published_at timestamptz);
CREATE INDEX home_requests_customer ON home_requests (home_customer, sent_at);

-- A live answer, announced on channel hq_home_answers with its id.
CREATE TABLE home_answers (id text PRIMARY KEY, store text NOT NULL, kind text NOT NULL, payload jsonb NOT NULL,
  at timestamptz NOT NULL DEFAULT now());
CREATE INDEX home_answers_at ON home_answers (at);
