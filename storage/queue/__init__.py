"""The job queue: one ``JobQueue`` port (``port.py``), adapters for SQLite and PostgreSQL, and every
timeout in one place (``timeouts.py``). ``open_queue(url)`` picks the adapter from the storage URL."""
