"""The job queue: one ``JobQueue`` port (``port.py``), adapters for SQLite and PostgreSQL, and every
timeout in one place (``timeouts.py``). ``storage.open_storage(url)`` picks the adapter from the storage URL."""
