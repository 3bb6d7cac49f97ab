-- Revision 2: tuning per guild x streamer with its history, who cancelled a job, and the claim index
-- (the same logical schema as sqlite/0002_tuning_and_claim_index.sql).

-- Every change of a guild x streamer's detector parameters is a new version; the highest is current.
-- A rollback writes a new version with the old parameters, so the history is never rewritten.
CREATE TABLE tunings (
    guild_id TEXT NOT NULL,
    streamer_id BIGINT NOT NULL REFERENCES streamers (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    params JSONB NOT NULL,
    reason TEXT NOT NULL,
    votes_used INTEGER NOT NULL DEFAULT 0,
    created_by TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (guild_id, streamer_id, version)
);

ALTER TABLE jobs ADD COLUMN cancelled_by TEXT;

-- claim(): the highest priority, then the oldest, queued job of the given kinds.
CREATE INDEX jobs_claim ON jobs (status, kind, priority DESC, id);
