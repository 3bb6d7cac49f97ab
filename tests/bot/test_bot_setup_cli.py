"""A server owner's setup from the command line: ``highlights discord invite`` and ``.env`` read by ``highlights run``.

The invite asks for exactly the permissions the bot checks in its clip channel (and that the Discord
double gives the bot's role), with the ``bot`` and ``applications.commands`` scopes. ``highlights run``
reads ``.env`` from its folder, and a variable set in the environment wins over the file.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from highlights.cli import main
from highlights.cmd_discord import application_id_from_token
from highlights.doubles.discord import APP_ID
from highlights.doubles.discord_permissions import BOT_INVITED_WITH

TOKEN = base64.urlsafe_b64encode(str(APP_ID).encode()).decode().rstrip("=") + ".GhIjKl.signature-part"


def invite(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["discord", "invite", *args])
    out = capsys.readouterr()
    return code, out.out.strip(), out.err


def test_the_invite_asks_for_the_scopes_and_exactly_the_permissions_the_bot_needs(capsys: pytest.CaptureFixture[str]
                                                                                  ) -> None:
    code, url, err = invite(capsys, "--app-id", str(APP_ID))
    assert code == 0
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "discord.com", "/oauth2/authorize")
    assert query["client_id"] == [str(APP_ID)]
    assert query["scope"] == ["bot applications.commands"]
    assert int(query["permissions"][0]) == BOT_INVITED_WITH == 309237763072
    assert "Attach Files: upload the clip videos" in err and "Create Public Threads" in err


def test_the_application_id_comes_from_the_token_and_a_server_can_be_preselected(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    assert application_id_from_token(TOKEN) == APP_ID
    code, url, _ = invite(capsys, "--guild", "1200000000000000001")
    query = parse_qs(urlsplit(url).query)
    assert code == 0 and query["client_id"] == [str(APP_ID)]
    assert query["guild_id"] == ["1200000000000000001"] and query["disable_guild_select"] == ["true"]


@pytest.mark.parametrize("args, says", [
    ((), "No application id: pass --app-id, or set DISCORD_TOKEN"),
    (("--app-id", "my-bot"), "--app-id 'my-bot' is not a Discord id"),
    (("--app-id", str(APP_ID), "--guild", "42"), "Copy Server ID"),
])
def test_invite_mistakes_get_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                      tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    code, out, err = invite(capsys, *args)
    assert code == 2 and out == "" and says in err and len(err.strip().splitlines()) == 1


def run_bot(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "HIGHLIGHTS_"))}
    return subprocess.run([sys.executable, "-m", "highlights", "run", "--only", "bot", "--storage",
                           f"sqlite:///{cwd / 'run.db'}", "--artifacts", str(cwd / "art")],
                          capture_output=True, text=True, timeout=300, env={**base, **env}, cwd=cwd)


def test_highlights_run_reads_dotenv_and_the_environment_wins(tmp_path: Path) -> None:
    from_file, from_env = tmp_path / "media-from-dotenv", tmp_path / "media-from-env"
    (tmp_path / ".env").write_text(f"# the bot's settings\nDISCORD_TOKEN={TOKEN}\nHIGHLIGHTS_BOT_MEDIA_DIR={from_file}\n")
    done = run_bot(tmp_path)  # both from .env: the token starts the bot, which then refuses the missing folder
    assert done.returncode != 0 and f"HIGHLIGHTS_BOT_MEDIA_DIR={from_file} is not a folder" in done.stderr
    done = run_bot(tmp_path, HIGHLIGHTS_BOT_MEDIA_DIR=str(from_env))
    assert done.returncode != 0 and f"HIGHLIGHTS_BOT_MEDIA_DIR={from_env} is not a folder" in done.stderr
    (tmp_path / ".env").unlink()
    done = run_bot(tmp_path)
    assert done.returncode == 0 and "Discord bot not started: DISCORD_TOKEN is not set" in done.stderr


def test_compose_reserves_a_gpu_keeps_models_and_asks_for_a_real_database_password() -> None:
    yaml = pytest.importorskip("yaml")

    class Loader(yaml.SafeLoader):
        """Compose's ``!reset`` tag (compose.cpu.yaml) as a plain value."""

    Loader.add_constructor("!reset", lambda loader, node: None)
    root = Path(__file__).resolve().parents[2]
    compose = yaml.load((root / "compose.yaml").read_text(), Loader=Loader)
    worker, db = compose["services"]["worker"], compose["services"]["db"]
    device = worker["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"] and device["count"] == 1
    assert "models:/data/models" in worker["volumes"] and "artifacts:/data/artifacts" in worker["volumes"]
    assert worker["environment"]["HIGHLIGHTS_MODELS_DIR"] == "/data/models"
    assert {"models", "artifacts", "pgdata"} <= set(compose["volumes"])
    assert db["ports"] == ["${POSTGRES_PORT:-5432}:5432"]
    assert db["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")  # no default password
    assert ":?" in worker["environment"]["HIGHLIGHTS_STORAGE_URL"]
    cpu = yaml.load((root / "compose.cpu.yaml").read_text(), Loader=Loader)
    assert cpu["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"] is None
    example = (root / ".env.example").read_text()
    assert "\nPOSTGRES_PASSWORD=\n" in example and "HIGHLIGHTS_BOT_SYNC_GUILD" in example
