"""``bot.vodref``: which VOD references the bot accepts, and the short message for each it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import BadVodReference
from bot.vodref import parse_vod


@pytest.mark.parametrize("text, vod_id", [
    ("2012345678", "2012345678"),
    ("v2012345678", "2012345678"),
    ("https://www.twitch.tv/videos/2012345678", "2012345678"),
    ("<https://www.twitch.tv/videos/2012345678?t=1h2m3s>", "2012345678"),
    ("twitch.tv/videos/2012345678/", "2012345678"),
    ("https://m.twitch.tv/videos/2012345678", "2012345678"),
    ("https://www.twitch.tv/somestreamer/video/2012345678", "2012345678"),
    ("http://twitch.tv/videos/123456", "123456"),
])
def test_twitch_vod_links_and_ids_are_accepted(text: str, vod_id: str) -> None:
    ref = parse_vod(text, None)
    assert ref.twitch_vod_id == vod_id and ref.source == f"https://www.twitch.tv/videos/{vod_id}"
    assert ref.dedupe_key("9") == f"detect:9:twitch:{vod_id}"


@pytest.mark.parametrize("text, says", [
    ("https://youtube.com/watch?v=abc", "Only Twitch VOD links"),
    ("https://www.twitch.tv.evil.example/videos/2012345678", "Only Twitch VOD links"),
    ("https://evil.example/?u=https://www.twitch.tv/videos/2012345678", "Only Twitch VOD links"),
    ("http://127.0.0.1/videos/2012345678", "private or numeric"),
    ("http://192.168.1.20:8080/videos/2012345678", "private or numeric"),
    ("http://[::1]/videos/2012345678", "private or numeric"),
    ("http://localhost/videos/2012345678", "private or numeric"),
    ("http://2130706433/videos/2012345678", "private or numeric"),
    ("https://www.twitch.tv@10.0.0.1/videos/2012345678", "private or numeric"),
    ("https://user@www.twitch.tv/videos/2012345678", "Only Twitch VOD links"),
    ("https://www.twitch.tv:8443/videos/2012345678", "Only Twitch VOD links"),
    ("ftp://www.twitch.tv/videos/2012345678", "https://"),
    ("file:///etc/passwd", "https://"),
    ("https://www.twitch.tv/somestreamer", "a channel"),
    ("https://www.twitch.tv/somestreamer/clip/FunnyClip-abc", "a clip"),
    ("https://www.twitch.tv/videos/12ab", "not a VOD"),
    ("12345", "not a Twitch VOD id"),
    ("12ab34", "not a Twitch VOD id"),
    ("1234567890123", "not a Twitch VOD id"),
    ("", "Give a Twitch VOD link"),
    ("   ", "Give a Twitch VOD link"),
    ("/etc/passwd", "local files are turned off"),
])
def test_everything_else_is_refused_with_a_short_reason(text: str, says: str) -> None:
    with pytest.raises(BadVodReference) as caught:
        parse_vod(text, None)
    message = str(caught.value)
    assert says in message and len(message) < 200 and "Traceback" not in message


def test_local_files_only_inside_the_media_folder(tmp_path: Path) -> None:
    root = tmp_path / "media"
    (root / "streamer").mkdir(parents=True)
    video = root / "streamer" / "vod.mp4"
    video.write_bytes(b"x")
    (root / "streamer" / "vod.jsonl").write_text("{}\n")
    chat_only = root / "chat.json"
    chat_only.write_text("[]")
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(b"x")
    (root / "link.mp4").symlink_to(outside)
    (root / "notes.pdf").write_bytes(b"x")

    ref = parse_vod("streamer/vod.mp4", root)
    assert ref.media == video.resolve() and ref.chat == (root / "streamer" / "vod.jsonl").resolve()
    assert ref.label == "vod.mp4" and ref.dedupe_key("1").startswith("detect:1:file:")
    assert parse_vod(str(video), root).media == video.resolve()
    assert parse_vod("chat.json", root).chat == chat_only.resolve() and parse_vod("chat.json", root).media is None
    for bad, says in (("../secret.mp4", "outside the folder"), (str(outside), "outside the folder"),
                      ("link.mp4", "outside the folder"), ("streamer/missing.mp4", "no file"),
                      ("notes.pdf", "neither a video")):
        with pytest.raises(BadVodReference, match=says):
            parse_vod(bad, root)
