-- Methods, in insertion order (seq). App secrets are sealed (AES-256-GCM) under the key app_key_id.
CREATE TABLE mfa_methods (
    seq BIGSERIAL PRIMARY KEY,
    user_id TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    number TEXT,
    mode TEXT,
    extension TEXT,
    status TEXT NOT NULL,
    is_default BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    app_secret BYTEA,
    app_key_id TEXT,
    app_parameters TEXT,
    replaces TEXT,
    UNIQUE (user_id, id)
);
-- The last accepted app step per method; u64 mapped onto i64 keeping its order.
CREATE TABLE mfa_app_steps (
    user_id TEXT NOT NULL,
    method_id TEXT NOT NULL,
    step BIGINT NOT NULL,
    PRIMARY KEY (user_id, method_id)
);
-- Challenges keep only keyed hashes of codes.
CREATE TABLE mfa_challenges (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    method_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    status TEXT NOT NULL,
    answer TEXT NOT NULL,
    code_hash BYTEA,
    generation BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    sends BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_sent_at BIGINT,
    approved_at BIGINT
);
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);
CREATE TABLE mfa_windows (
    key TEXT PRIMARY KEY,
    count BIGINT NOT NULL,
    resets_at BIGINT NOT NULL
);
CREATE TABLE mfa_user_failures (
    user_id TEXT PRIMARY KEY,
    count BIGINT NOT NULL,
    last_at BIGINT
);
CREATE TABLE mfa_recovery_codes (
    seq BIGSERIAL PRIMARY KEY,
    user_id TEXT NOT NULL,
    hash BYTEA NOT NULL,
    used BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX mfa_recovery_codes_user_hash ON mfa_recovery_codes (user_id, hash);
