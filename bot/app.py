"""The bot's entry point: ``main(storage_url)``, started by ``highlights run`` (or ``python -m bot.app``).

Consumes the storage URL and the environment (``bot.config``); runs the Discord bot until SIGTERM
or SIGINT, then closes it and the storage, and returns 0. Without ``DISCORD_TOKEN`` (or without
discord.py installed) it says so and returns 0 at once, so ``highlights run`` keeps the other
components running; a token Discord rejects is an error (status 2).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping

from bot.config import ENV_TOKEN, BotConfig
from bot.errors import BotConfigError
from storage.redact import install_log_redaction, register_secret

log = logging.getLogger(__name__)


def main(storage_url: str, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    install_log_redaction()  # no log line, ours or discord.py's, ever shows the token or a password
    register_secret((env.get(ENV_TOKEN) or "").strip() or None)
    if not (env.get(ENV_TOKEN) or "").strip():
        log.warning("Discord bot not started: %s is not set (put the bot token there to start it)", ENV_TOKEN)
        return 0
    try:
        import discord  # noqa: F401  (the optional dependency)
    except ImportError:
        log.warning("Discord bot not started: discord.py is not installed (pip install '.[bot]')")
        return 0
    try:
        config = BotConfig.from_env(storage_url, env)
    except BotConfigError as exc:
        log.error("Discord bot not started: %s", exc)
        return 2
    return asyncio.run(run(storage_url, config))


async def run(storage_url: str, config: BotConfig) -> int:
    import discord

    from bot.client import HighlightsBot
    from storage.errors import StorageError
    from storage.factory import open_storage

    try:
        storage = await open_storage(storage_url)
    except StorageError as exc:
        log.error("Discord bot not started: the storage cannot be opened (%s)", exc)
        return 2
    bot = HighlightsBot(storage.queue, storage.repo, config)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    handled = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stopping.set)
            handled.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # asyncio on Windows, a non-main thread, no signals
            pass
    runner = asyncio.create_task(bot.start(config.token or ""))
    stop = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait({runner, stop}, return_when=asyncio.FIRST_COMPLETED)
        if runner.done():
            runner.result()  # a login failure or a crash surfaces here
            return 0
        log.info("stopping the Discord bot")
        return 0
    except discord.LoginFailure:
        log.error("Discord rejected the bot token in %s; check it in the developer portal", ENV_TOKEN)
        return 2
    except discord.PrivilegedIntentsRequired as exc:
        log.error("Discord refused the gateway intents: %s", exc)
        return 2
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        stop.cancel()
        await bot.close()
        if not runner.done():
            runner.cancel()
        await asyncio.gather(runner, stop, return_exceptions=True)
        await storage.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("HIGHLIGHTS_STORAGE_URL", "")
    if not url:
        print("usage: python -m bot.app STORAGE_URL", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(main(url))
