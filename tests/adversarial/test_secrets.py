"""Issue 14, finding 5: the database password leaked into INFO logs and errors when given as
``?password=`` in a PostgreSQL URL, and ``repr(BotConfig)`` held the Discord token.

One redaction function (``storage.redact``) now serves every URL, error and log record; config reprs
mask secrets. The last test runs the whole product — the real bot against the Discord REST double
with Helix credentials (the Helix double), a real worker on PostgreSQL reached through URLs holding
passwords in both forms — at DEBUG, and greps everything it logged or printed for every secret.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot.config import BotConfig
from detector.synthetic.vod import SyntheticVod
from highlights.cmd_worker import WorkerConfig, configure_worker_logging, serve
from storage.artifacts import ArtifactStore
from storage.factory import open_storage
from storage.redact import install_log_redaction, redact
from storage.twitch import HelixSettings
from storage.url import parse_storage_url
from tests.bot.harness import BotHarness
from tests.helix_double import CLIENT_SECRET, HelixDouble

pytestmark = pytest.mark.timeout(240)
DISCORD_TOKEN = "MTE5OTk5OTk5OTk5OTk5OTk5.GhOst.secret-token-value-0123456789"
DB_USERINFO = "db-pass-in-userinfo-71xq"
DB_QUERY = "db-pass-in-query-93kz"


@pytest.mark.parametrize("text, secret", [
    ("postgresql://u:hunter22x@db/h", "hunter22x"),
    ("postgresql://u@db/h?password=hunter22x&sslmode=require", "hunter22x"),
    ("postgresql://u@db/h?sslpassword=hunter22x", "hunter22x"),
    ("cannot connect to postgresql://u@db/h?password=hunter22x: refused", "hunter22x"),
    ("GET https://id.twitch.tv/oauth2/token?client_id=a&client_secret=hunter22x", "hunter22x"),
    ("{'Authorization': 'Bot hunter22x.abc'}", "hunter22x"),
    ('{"access_token": "hunter22x", "expires_in": 5}', "hunter22x"),
    ("https://usher.ttvnw.net/vod/1.m3u8?sig=hunter22x&token=abc", "hunter22x"),
])
def test_one_redaction_function_masks_every_form(text: str, secret: str) -> None:
    assert secret not in redact(text) and "***" in redact(text)


def test_config_reprs_hide_secrets(tmp_path: Path) -> None:
    url = f"postgresql://u:{DB_USERINFO}@db/h?password={DB_QUERY}"
    bot = BotConfig(artifacts=ArtifactStore.for_storage(None, tmp_path), state_path=tmp_path / "s.json",
                    token=DISCORD_TOKEN, twitch=HelixSettings(client_id="cid", client_secret=CLIENT_SECRET))
    shown = " ".join([repr(bot), repr(WorkerConfig(storage_url=url)), repr(parse_storage_url(url)),
                      str(WorkerConfig(storage_url=url))])
    for secret in (DISCORD_TOKEN, CLIENT_SECRET, DB_USERINFO, DB_QUERY):
        assert secret not in shown, shown
    assert "token='***'" in repr(bot)


@pytest.mark.parametrize("url", [
    f"postgresql://someone@127.0.0.1:1/db?password={DB_QUERY}",
    f"postgresql://someone:{DB_USERINFO}@127.0.0.1:1/db",
    f"postgresql://someone:{DB_USERINFO}@[::1/db",
])
def test_a_refused_or_malformed_database_url_never_shows_its_password(url: str, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "highlights", "-vv", "jobs", "list", "--storage", url],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert DB_QUERY not in proc.stdout + proc.stderr and DB_USERINFO not in proc.stdout + proc.stderr


def with_passwords(url: str) -> tuple[str, str]:
    """The same database as a ``user:pw@`` URL and a ``?password=`` URL (the test server trusts local
    connections, so the passwords are carried everywhere and checked nowhere)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or "postgres"
    return (urlunsplit(parts._replace(netloc=f"{user}:{DB_USERINFO}@{host}")),
            urlunsplit(parts._replace(netloc=f"{user}@{host}", query=f"password={DB_QUERY}")))


class Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def debug_logs() -> Iterator[Everything]:
    root = logging.getLogger()
    handler, level = Everything(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_a_full_bot_and_worker_run_at_debug_logs_no_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_vod: SyntheticVod, debug_logs: Everything,
        capfd: pytest.CaptureFixture[str], request: pytest.FixtureRequest) -> None:
    try:
        from tests.storage.pg_server import pg_database_url  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"tests.storage.pg_server is not available ({exc})")
    bot_url, worker_url = with_passwords(str(request.getfixturevalue("pg_database_url")))
    install_log_redaction()  # what every entry point does (highlights.cli, bot.app, the worker's logging)
    configure_worker_logging(logging.DEBUG)
    assert sample_vod.media_path is not None
    with HelixDouble() as helix:
        helix.add_user("somestreamer")
        twitch = HelixSettings.from_env(helix.env(), attempts=2, backoff_s=0.01, timeout_s=3.0, max_wait_s=0.5)
        storage = await open_storage(bot_url)
        h = await BotHarness.start(tmp_path, monkeypatch, media_root=sample_vod.media_path.parent, storage=storage,
                                   token=DISCORD_TOKEN, twitch=twitch, post_poll_s=0.2)
        try:
            token = h.slash("highlights", vod=sample_vod.media_path.name, top=2, streamer="somestreamer")
            assert "Queued job #1" in await h.answer(token)
            code = await serve(WorkerConfig(storage_url=worker_url, artifacts=str(h.config.artifacts.root),
                                            once=True, log_level=logging.DEBUG))
            assert code == 0
            clips = await h.storage.repo.list_clips(1)
            assert clips
            await h.double.wait_for(lambda: len(h.double.find("POST", "/messages")) >= len(clips), what="posts")
            h.slash("highlights", vod=f"postgresql://x:{DB_USERINFO}@evil/db?password={DB_QUERY}")
            await h.idle()  # the bot has handled (and logged) that request
        finally:
            await h.close()
            await storage.close()
    out, err = capfd.readouterr()
    everything = "\n".join(debug_logs.lines) + out + err
    assert "claiming detect,cleanup,render jobs from" in everything  # the line that showed ?password= before
    assert len(debug_logs.lines) > 100, "the run logged too little to prove anything"
    for secret in (DISCORD_TOKEN, CLIENT_SECRET, DB_USERINFO, DB_QUERY):
        leaks = [line for line in everything.splitlines() if secret in line]
        assert not leaks, f"{secret!r} leaked:\n" + "\n".join(leaks[:5])
