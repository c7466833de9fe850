-- mfa v2: one sealed record per user, found by a keyed hash of the user id.
-- `sealed` is AES-256-GCM under the key `key_id`, bound to the user and `version`.
-- `expires_at` (Unix ms) is set only for records with nothing left worth keeping.
CREATE TABLE mfa_user_records (
    id BYTEA PRIMARY KEY,
    version BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    sealed BYTEA NOT NULL,
    expires_at BIGINT
);
CREATE INDEX mfa_user_records_expires_at ON mfa_user_records (expires_at) WHERE expires_at IS NOT NULL;
-- Fixed-window counters shared across users; `id` is a keyed hash of the caller's key.
CREATE TABLE mfa_rate_windows (
    id BYTEA PRIMARY KEY,
    count BIGINT NOT NULL,
    resets_at BIGINT NOT NULL
);
CREATE INDEX mfa_rate_windows_resets_at ON mfa_rate_windows (resets_at);
