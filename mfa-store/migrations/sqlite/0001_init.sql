-- Methods, in insertion order (seq). App secrets are sealed (AES-256-GCM) under the key app_key_id.
CREATE TABLE mfa_methods (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    number TEXT,
    mode TEXT,
    extension TEXT,
    status TEXT NOT NULL,
    is_default INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    app_secret BLOB,
    app_key_id TEXT,
    app_parameters TEXT,
    replaces TEXT,
    UNIQUE (user_id, id)
);
-- The last accepted app step per method; u64 mapped onto i64 keeping its order.
CREATE TABLE mfa_app_steps (
    user_id TEXT NOT NULL,
    method_id TEXT NOT NULL,
    step INTEGER NOT NULL,
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
    code_hash BLOB,
    generation INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    sends INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    last_sent_at INTEGER,
    approved_at INTEGER
);
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);
CREATE TABLE mfa_windows (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    resets_at INTEGER NOT NULL
);
CREATE TABLE mfa_user_failures (
    user_id TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    last_at INTEGER
);
CREATE TABLE mfa_recovery_codes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    hash BLOB NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX mfa_recovery_codes_user_hash ON mfa_recovery_codes (user_id, hash);
