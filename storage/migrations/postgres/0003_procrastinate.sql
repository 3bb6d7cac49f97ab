-- Revision 3 (PostgreSQL only): procrastinate carries delivery between machines.
--
-- The next line is not SQL: storage/pg_db.py replaces it with the schema shipped by the installed
-- procrastinate package (tables procrastinate_jobs, _workers, _events, _periodic_defers and their
-- functions), and records that package version in procrastinate_schema_version. Later procrastinate
-- releases are brought in by pg_db at start-up from the package's own migration files.
\i procrastinate

-- Each of our jobs has one procrastinate job (task highlights.run_job, queue "gpu" or "control") that
-- moves with it: todo while queued, doing while running, then succeeded / failed / aborted / cancelled.
-- Our table stays the source of truth for status, progress, cancel and dedupe; procrastinate's
-- queueing_lock is never used (a waiting duplicate would make a stalled job's retry fail).
ALTER TABLE jobs ADD COLUMN procrastinate_job_id BIGINT
    REFERENCES procrastinate_jobs (id) ON DELETE SET NULL;
CREATE INDEX jobs_procrastinate_job ON jobs (procrastinate_job_id);

-- claim() on PostgreSQL reads only queued rows: a partial index keeps it small as history grows.
CREATE INDEX jobs_claim_queued ON jobs (kind, priority DESC, id) WHERE status = 'queued';
CREATE INDEX jobs_lease_running ON jobs (lease_expires_at) WHERE status = 'running';
