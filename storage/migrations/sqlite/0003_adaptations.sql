-- Revision 3 on SQLite (4 on PostgreSQL, whose 3 is procrastinate): a community's adapted chat ranker per guild x streamer, with its history.

-- Every adaptation (fitted from viewers' clips, members' votes or labelled intervals) is a new
-- version; the highest is current. A rollback appends a new version with the old model, and a reset
-- appends one with an empty model (back to the shipped default), so the history is never rewritten.
CREATE TABLE adaptations (
    guild_id TEXT NOT NULL,
    streamer_id INTEGER NOT NULL REFERENCES streamers (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    model TEXT NOT NULL,
    source TEXT NOT NULL,
    labels_used INTEGER NOT NULL DEFAULT 0,
    vods_used INTEGER NOT NULL DEFAULT 0,
    summary TEXT NOT NULL,
    created_by TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (guild_id, streamer_id, version)
);
