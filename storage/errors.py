"""The storage package's one exception root, with a machine ``code``."""

from __future__ import annotations


class StorageError(Exception):
    """Base of all storage errors."""

    code = "storage_error"


class StorageUrlError(StorageError):
    """The storage URL is malformed or names an unsupported backend."""

    code = "storage_url"


class JobNotFound(StorageError):
    code = "job_not_found"


class MigrationError(StorageError):
    """The database schema is newer than this code, or a migration failed."""

    code = "migration_error"


class NotOwner(StorageError):
    """A worker wrote to a job whose lease it no longer holds."""

    code = "not_owner"


class RecordNotFound(StorageError):
    """A streamer, subscription, VOD, clip or tuning version that does not exist."""

    code = "not_found"


class ForeignVote(StorageError):
    """A vote on a clip of another guild's job: votes count only in the guild that asked for the clip."""

    code = "vote_wrong_guild"
