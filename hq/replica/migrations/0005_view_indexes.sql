-- Indexes for the fleet page and the API (views.go). Without them the
-- fleet page's open-conversation counts and a store's open conversations
-- scan a store's whole history, and a customer's conversations scan every
-- store's: 115 ms at 10 000 stores of 50 conversations, about 1 ms with.
CREATE INDEX conversations_customer ON conversations (customer, last_at DESC);
CREATE INDEX conversations_store_last ON conversations (store, last_at);
