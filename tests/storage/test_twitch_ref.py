"""``storage.twitch_ref``: VOD links, ids and (where allowed) channels; everything else refused by name."""

from __future__ import annotations

import pytest

from storage.twitch_ref import BadTwitchReference, parse_twitch, vod_url


@pytest.mark.parametrize("text, channel", [
    ("https://www.twitch.tv/SomeStreamer", "somestreamer"),
    ("twitch.tv/some_streamer/videos", "some_streamer"),
    ("https://m.twitch.tv/abc123/", "abc123"),
    ("somestreamer", "somestreamer"),
    ("@SomeStreamer", "somestreamer"),
    ("gamer42", "gamer42"),
])
def test_channels_are_accepted_only_where_the_caller_allows_them(text: str, channel: str) -> None:
    assert parse_twitch(text, allow_channel=True).channel == channel
    assert parse_twitch(text, allow_channel=True).url == f"https://www.twitch.tv/{channel}"
    with pytest.raises(BadTwitchReference):
        parse_twitch(text)


@pytest.mark.parametrize("text", [
    "https://www.twitch.tv/directory", "https://www.twitch.tv/videos", "https://www.twitch.tv/a/b/c",
    "http://127.0.0.1/somestreamer", "https://evil.example/somestreamer", "so", "x" * 26, "some streamer",
    "12345",
])
def test_non_channels_stay_refused_even_when_channels_are_allowed(text: str) -> None:
    with pytest.raises(BadTwitchReference) as caught:
        parse_twitch(text, allow_channel=True)
    assert len(str(caught.value)) < 200


def test_a_vod_link_wins_over_its_channel_part() -> None:
    ref = parse_twitch("https://www.twitch.tv/somestreamer/video/2012345678", allow_channel=True)
    assert ref.vod_id == "2012345678" and ref.channel is None


@pytest.mark.parametrize("offset, suffix", [(None, ""), (0, "?t=0h00m00s"), (3723.9, "?t=1h02m03s"), (-5, "?t=0h00m00s")])
def test_vod_deep_links(offset: float | None, suffix: str) -> None:
    assert vod_url("2012345678", offset) == f"https://www.twitch.tv/videos/2012345678{suffix}"
