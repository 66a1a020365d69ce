-- Close and rate: each closing of a customer's conversation (its times and
-- the staff member it counts for) and each rating of one (stars only; the
-- comment stays in the conversation's sealed history). The reports API adds
-- them up by day (the store's time zone) and staff member.
CREATE TABLE chat_closings (store text NOT NULL, conversation text NOT NULL, closing bigint NOT NULL,
  customer text NOT NULL DEFAULT '', staff text NOT NULL, closed_by text NOT NULL DEFAULT '',
  opened_at timestamptz, first_response_at timestamptz, closed_at timestamptz NOT NULL,
  PRIMARY KEY (store, conversation, closing));
CREATE INDEX chat_closings_closed ON chat_closings (store, closed_at);
CREATE TABLE chat_ratings (store text NOT NULL, conversation text NOT NULL, closing bigint NOT NULL,
  staff text NOT NULL DEFAULT '', stars int NOT NULL CHECK (stars BETWEEN 1 AND 5), rated_at timestamptz NOT NULL,
  PRIMARY KEY (store, conversation, closing));
