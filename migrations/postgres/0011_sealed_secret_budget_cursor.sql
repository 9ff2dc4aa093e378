-- Round 3 of issue 13: signing secrets encrypted at rest, and the
-- alerter's cursor over budget events.
--
-- Outbound signing secrets are stored encrypted (NOTES record 20, round 3):
-- `sealed_secret` holds `v1:<key id>:<nonce>:<ciphertext>` (XChaCha20-
-- Poly1305 under a key from WEBHOOK_SECRET_KEY, the endpoint id as
-- associated data). The raw column is renamed `plain_secret` and kept only
-- for rows written before this migration: the first start of this version
-- with a key encrypts them and clears it. Exactly one of the two is set.

ALTER TABLE webhook_endpoint RENAME COLUMN secret TO plain_secret;
ALTER TABLE webhook_endpoint ALTER COLUMN plain_secret DROP NOT NULL;
ALTER TABLE webhook_endpoint RENAME CONSTRAINT webhook_endpoint_secret_check TO webhook_endpoint_plain_secret_check;
ALTER TABLE webhook_endpoint ADD COLUMN sealed_secret TEXT;
ALTER TABLE webhook_endpoint ADD CONSTRAINT webhook_endpoint_sealed_secret_check
    CHECK (sealed_secret LIKE 'v1:%:%:%');
ALTER TABLE webhook_endpoint ADD CONSTRAINT webhook_endpoint_one_secret_check
    CHECK ((plain_secret IS NULL) <> (sealed_secret IS NULL));
COMMENT ON COLUMN webhook_endpoint.plain_secret IS 'Legacy: the raw signing secret of an endpoint registered before migration 0011, until a process with WEBHOOK_SECRET_KEY encrypts it into sealed_secret and sets this NULL. New rows never use it.';
COMMENT ON COLUMN webhook_endpoint.sealed_secret IS 'The signing secret encrypted: v1:<key id>:<nonce base64>:<ciphertext base64> (XChaCha20-Poly1305, key from WEBHOOK_SECRET_KEY, associated data the version, key id and endpoint id); never returned after creation or rotation.';

-- The alerter also reads the events for new budget versions (so a budget
-- set below current spend alerts at once, not on the next invoice change):
-- its own cursor over global positions, starting at the head (budgets set
-- before were evaluated by the invoice changes that followed them).
ALTER TABLE notification_cursor DROP CONSTRAINT notification_cursor_cursor_name_check;
ALTER TABLE notification_cursor ADD CONSTRAINT notification_cursor_cursor_name_check
    CHECK (cursor_name IN ('alerter', 'webhook_dispatcher', 'alerter_budgets'));
INSERT INTO notification_cursor (cursor_name, position, updated_at)
SELECT 'alerter_budgets', COALESCE(MAX(global_position), 0), 0 FROM event;
COMMENT ON COLUMN notification_cursor.cursor_name IS 'alerter: invoice change-feed position; webhook_dispatcher: event global position; alerter_budgets: event global position up to which the alerter has evaluated new budget versions.';
