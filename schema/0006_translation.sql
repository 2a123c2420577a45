-- 0006_translation.sql: a request served through a translation says which, and what it lost.
-- All times are integer milliseconds since the Unix epoch, UTC.
--
-- A client whose API the chosen provider does not speak (an Anthropic
-- Messages client on an OpenAI chat provider, a chat client on a Messages
-- provider, a Responses client on either) is served through a
-- translation of the request and of its answer. The request row names
-- the translation of its final attempt and counts what the provider's API
-- could not express ([translation] loss_policy = "warn" translates the
-- rest; "reject" refuses the request with 400).

ALTER TABLE requests ADD COLUMN translation TEXT; -- e.g. messages>chat, chat>messages, responses>chat, responses>messages; NULL = served in the client's own API
ALTER TABLE requests ADD COLUMN translation_warnings INTEGER NOT NULL DEFAULT 0; -- parts of the request or answer the translation left out or changed

-- The dashboard counts the translated requests of a period from these rows alone.
CREATE INDEX requests_translated ON requests(started_at) WHERE translation IS NOT NULL;
