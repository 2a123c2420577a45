-- 0004_key_expiry.sql: client keys may expire.
-- All times are integer milliseconds since the Unix epoch, UTC.
--
-- `quotapool-admin key new NAME --expires 30d` sets expires_at; from then
-- on the key is refused with a 401 that says it expired. `key rotate NAME`
-- gives the row a new secret in place (new hash and prefix, created_at =
-- the rotation, last_used_at cleared): the old secret stops working at
-- once, and the name, role and row id stay.

ALTER TABLE client_keys ADD COLUMN expires_at INTEGER; -- refused from this time on (NULL = never)
