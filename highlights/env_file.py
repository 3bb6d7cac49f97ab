"""The ``.env`` file: settings for ``highlights run`` (and ``highlights discord``) kept beside the deployment.

Consumes a ``.env`` file (``KEY=value`` lines, as ``.env.example`` shows; read by python-dotenv, the
format Docker Compose's ``env_file`` reads too); produces the variables it sets in ``os.environ``, for
this process and the processes it spawns. A variable already set in the environment wins over the file,
so ``DISCORD_TOKEN=… highlights run`` overrides a token written in ``.env``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT = Path(".env")


def load_env_file(path: Path | None = None) -> list[str]:
    """Set the variables of ``path`` (default: ``.env`` in the current folder, if there is one) that the
    environment does not set already; returns their names. A file named explicitly must exist."""
    from dotenv import dotenv_values

    from detector.errors import ConfigError

    chosen = path if path is not None else DEFAULT
    if not chosen.is_file():
        if path is not None:
            raise ConfigError(f"--env-file {path}: no such file.", hint="Copy .env.example to .env and fill it in.")
        return []
    values = dotenv_values(chosen)
    applied = [k for k, v in values.items() if v is not None and k not in os.environ]
    for key in applied:
        os.environ[key] = str(values[key])
    kept = sorted(k for k in values if k in os.environ and k not in applied)
    log.info("read %s: %d setting(s)%s", chosen, len(applied),
             f"; the environment's own {', '.join(kept)} kept" if kept else "")
    return applied
