"""Issue 14, finding 4 (and the FIFO / symlink-loop part of 7): special files are refused at the edge.

A FIFO given as media or as ``--chat`` hung ``detect`` (its ffmpeg stayed blocked after SIGTERM), and a
FIFO or a symlink loop was reported as "does not exist". Every special file now gets its own one-line
message before anything opens it; ``highlights detect`` runs in a process of its own, with a deadline.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from detector.errors import ChatFormatError, MediaError
from detector.sources.chat import load_chat
from detector.sources.input_files import file_problem
from detector.sources.media import probe
from highlights.cmd_jobs import detect_payload


def special(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.mp4"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
        s.close()
    elif kind == "loop":
        path.symlink_to(path.name)
    elif kind == "broken":
        path.symlink_to("gone.mp4")
    elif kind == "device":
        return Path("/dev/zero")
    return path


EXPECTED = {"fifo": "is a FIFO (named pipe)", "socket": "is a socket", "loop": "is a symlink loop",
            "broken": "is a link to gone.mp4, which does not exist", "device": "is a character device"}


@pytest.mark.parametrize("role", ["media", "chat"])
@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_detect_refuses_a_special_file_at_once_with_its_own_message(kind: str, role: str, tmp_path: Path) -> None:
    path = special(tmp_path, kind)
    args = [str(path)] if role == "media" else ["--chat", str(path)]
    proc = subprocess.run([sys.executable, "-m", "highlights", "detect", *args, "--quiet"], capture_output=True,
                          text=True, timeout=120)  # before the fix a FIFO never returned
    assert proc.returncode == 2, proc.stderr
    assert EXPECTED[kind] in proc.stderr and "Traceback" not in proc.stderr
    assert "does not exist" not in proc.stderr or kind == "broken"


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_the_library_edges_name_what_the_path_is(kind: str, tmp_path: Path) -> None:
    path = special(tmp_path, kind)
    problem = file_problem(path)
    assert problem is not None and EXPECTED[kind] in problem.text
    with pytest.raises(MediaError, match=EXPECTED[kind].replace("(", r"\(").replace(")", r"\)")):
        probe(path)
    with pytest.raises(ChatFormatError, match=EXPECTED[kind].replace("(", r"\(").replace(")", r"\)")):
        load_chat(path)


def test_queueing_a_fifo_is_refused_before_the_job_exists(tmp_path: Path) -> None:
    fifo = special(tmp_path, "fifo")
    with pytest.raises(MediaError, match="FIFO"):
        detect_payload(fifo, None, [])
    with pytest.raises(ChatFormatError, match="FIFO"):
        detect_payload(None, fifo, [])


def test_regular_files_and_links_to_them_pass(tmp_path: Path) -> None:
    real = tmp_path / "real.mp4"
    real.write_bytes(b"x")
    link = tmp_path / "link.mp4"
    link.symlink_to(real.name)
    assert file_problem(real) is None and file_problem(link) is None
