-- Revision 1: jobs, streamers, subscriptions, VODs, clips and votes.
-- Times are fixed-width UTC text from storage.clock.to_text (they sort in time order).
-- JSON fields (payload, result, signals, explanation, files) are JSON text.

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    payload TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    dedupe_key TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    stage TEXT,
    progress REAL NOT NULL DEFAULT 0,
    progress_message TEXT,
    error_code TEXT,
    error_message TEXT,
    requested_by TEXT,
    guild_id TEXT,
    channel_id TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires_at TEXT,
    run_after TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    result TEXT
);

-- Two active jobs never share a dedupe key: the database enforces it, whoever enqueues.
CREATE UNIQUE INDEX jobs_dedupe_active ON jobs (dedupe_key) WHERE status IN ('queued', 'running');

CREATE INDEX jobs_guild ON jobs (guild_id, id);

CREATE TABLE streamers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    login TEXT NOT NULL UNIQUE,
    display_name TEXT,
    twitch_user_id TEXT
);

CREATE TABLE subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id TEXT NOT NULL,
    streamer_id INTEGER NOT NULL REFERENCES streamers (id) ON DELETE CASCADE,
    channel_id TEXT NOT NULL,
    created_by TEXT,
    last_seen_vod TEXT,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    UNIQUE (guild_id, streamer_id)
);

CREATE TABLE vods (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    twitch_vod_id TEXT UNIQUE,
    source TEXT NOT NULL UNIQUE,
    streamer_id INTEGER REFERENCES streamers (id) ON DELETE SET NULL,
    title TEXT,
    duration_s REAL,
    created_at TEXT
);

CREATE TABLE clips (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    vod_id INTEGER REFERENCES vods (id) ON DELETE SET NULL,
    rank INTEGER NOT NULL,
    start_s REAL NOT NULL,
    end_s REAL NOT NULL,
    peak_s REAL NOT NULL,
    score REAL NOT NULL,
    signals TEXT NOT NULL,
    explanation TEXT NOT NULL,
    files TEXT NOT NULL DEFAULT '{}',
    message_id TEXT,
    channel_id TEXT,
    thread_id TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (job_id, rank)
);

CREATE INDEX clips_message ON clips (message_id);

CREATE TABLE votes (
    clip_id INTEGER NOT NULL REFERENCES clips (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    value INTEGER NOT NULL CHECK (value IN (-1, 1)),
    voted_at TEXT NOT NULL,
    PRIMARY KEY (clip_id, user_id)
);
