"""``highlights models``: which vision models each hardware profile wants, fetching them, finding them.

``models list`` shows every profile's models, present or missing, and where they belong;
``models download [NAME ...]`` fetches models from the Hugging Face Hub into the models directory
(``--models-dir``, ``$HIGHLIGHTS_MODELS_DIR`` or ``~/.cache/highlights/models``) where a network
exists, and fails within seconds with one clear line where it does not; ``models path NAME`` prints
where a model lives. The detector itself never downloads: it only loads from that directory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import threading
import urllib.parse
from pathlib import Path

from detector.errors import ModelError
from detector.models.vision_catalog import (
    DEFAULT_PROFILE,
    MODEL_SPECS,
    PROFILE_MODELS,
    model_path,
    model_problem,
    models_dir,
)

DEFAULT_ENDPOINT = "https://huggingface.co"
PROBE_TIMEOUT_S = 5.0
"""How long ``download`` waits to reach the Hub before giving up (seconds)."""
_TRUTHY = {"1", "true", "yes", "on"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list, download or locate the vision models")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--models-dir", type=Path, default=None,
                        help="models directory (default: $HIGHLIGHTS_MODELS_DIR or ~/.cache/highlights/models)")
    actions = p.add_subparsers(dest="models_action", metavar="ACTION")
    ls = actions.add_parser("list", parents=[common], help="the models each hardware profile wants, present or missing")
    ls.set_defaults(func=run_list)
    dl = actions.add_parser("download", parents=[common], help="fetch models from the Hugging Face Hub (needs a network)")
    dl.add_argument("names", nargs="*", metavar="NAME",
                    help="model names (see `models list`) or Hub repo ids owner/name; default: the profile's models")
    dl.add_argument("--profile", choices=sorted(PROFILE_MODELS), default=None,
                    help=f"download this profile's models when no NAME is given (default: {DEFAULT_PROFILE})")
    dl.add_argument("--force", action="store_true", help="download again even when the model is present")
    dl.add_argument("--timeout", type=float, default=PROBE_TIMEOUT_S, help="seconds to wait for the Hub to answer")
    dl.set_defaults(func=run_download)
    pa = actions.add_parser("path", parents=[common], help="print the directory a model lives in")
    pa.add_argument("name", metavar="NAME")
    pa.set_defaults(func=run_path)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_list(args: argparse.Namespace) -> int:
    root = models_dir(args.models_dir)
    print(f"models directory: {root}")
    print(f"{'profile':<9} {'role':<10} {'model':<28} {'~VRAM':>7}  status")
    for profile, want in PROFILE_MODELS.items():
        for role, name in (("clip", want.clip), ("captioner", want.captioner)):
            if not name:
                print(f"{profile:<9} {role:<10} {'-':<28} {'':>7}  off")
                continue
            spec = MODEL_SPECS.get(name)
            vram = f"{spec.vram_gb:.1f} GB" if spec else "?"
            print(f"{profile:<9} {role:<10} {name:<28} {vram:>7}  {_status(model_path(name, root))}")
    return 0


def run_path(args: argparse.Namespace) -> int:
    try:
        name = _resolve(args.name)[0]
    except ModelError:  # not a catalogue name nor a repo id: a directory name or a path, as given
        name = args.name
    print(model_path(name, args.models_dir))
    return 0


def run_download(args: argparse.Namespace) -> int:
    root = models_dir(args.models_dir)
    names = list(args.names) or _profile_models(args.profile or DEFAULT_PROFILE)
    for name in names:
        local, repo_id = _resolve(name)
        dest = root / local
        if not args.force and model_problem(dest) is None:
            print(f"{local}: already present in {dest}")
            continue
        download(repo_id, dest, timeout_s=args.timeout)
        print(f"{local}: downloaded {repo_id} into {dest}")
    return 0


def download(repo_id: str, dest: Path, *, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Fetch ``repo_id``'s config, tokenizer and weights into ``dest`` (atomically: ``.part`` first)."""
    hint = f"Without a network, copy the model directory into {dest} by hand (see `highlights models list`)."
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUTHY:
        raise ModelError(f"Cannot download {repo_id}: downloads are off (HF_HUB_OFFLINE is set).", hint=hint)
    endpoint = (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    probe_error = _probe(endpoint, timeout_s)
    if probe_error:
        raise ModelError(f"Cannot download {repo_id}: {endpoint} is unreachable ({probe_error}).", hint=hint)
    from huggingface_hub import HfApi, snapshot_download

    part = dest.with_name(dest.name + ".part")
    try:
        files = HfApi(endpoint=endpoint).list_repo_files(repo_id)
        weights = ["*.safetensors"] if any(f.endswith(".safetensors") for f in files) else ["pytorch_model*.bin"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        snapshot_download(repo_id, local_dir=part, endpoint=endpoint, etag_timeout=timeout_s,
                          allow_patterns=["*.json", "*.txt", "*.model", *weights])
    except Exception as exc:  # the network edge: the Hub client raises many kinds (HTTP, TLS, OS)
        shutil.rmtree(part, ignore_errors=True)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"Cannot download {repo_id} from {endpoint}: {first}.", hint=hint) from None
    shutil.rmtree(part / ".cache", ignore_errors=True)
    problem = model_problem(part)
    if problem:
        shutil.rmtree(part, ignore_errors=True)
        raise ModelError(f"{repo_id} downloaded but is not a usable model: {problem.replace(str(part), 'it')}.",
                         hint="Choose a Hugging Face transformers model with a tokenizer and an image processor.")
    if dest.exists():
        shutil.rmtree(dest)
    part.rename(dest)


def _profile_models(profile: str) -> list[str]:
    want = PROFILE_MODELS[profile]
    return [n for n in (want.clip, want.captioner) if n]


def _resolve(name: str) -> tuple[str, str]:
    """(local directory name, Hub repo id) of a catalogue name or an ``owner/name`` repo id."""
    spec = MODEL_SPECS.get(name)
    if spec:
        return spec.name, spec.repo_id
    if name.count("/") == 1 and all(name.split("/")) and name[0] not in "./~":
        return name.split("/")[1], name
    raise ModelError(f"Unknown model {name!r}.",
                     hint=f"Use one of {', '.join(MODEL_SPECS)}, or a Hugging Face repo id such as owner/name.")


def _status(path: Path) -> str:
    problem = model_problem(path)
    if problem is None:
        return f"present  {path}"
    if not path.exists():
        return f"missing  {path}"
    return f"incomplete ({problem})"


def _probe(endpoint: str, timeout_s: float) -> str | None:
    """None when a TCP connection to the endpoint (or the proxy in front of it) opens in time; else why not."""
    url = urllib.parse.urlsplit(endpoint)
    proxy = os.environ.get(f"{url.scheme}_proxy") or os.environ.get(f"{url.scheme.upper()}_PROXY")
    target = urllib.parse.urlsplit(proxy) if proxy else url
    host = target.hostname
    if not host:
        return f"{endpoint!r} is not a URL"
    port = target.port or (443 if target.scheme == "https" else 80)
    result: dict[str, str] = {}

    def connect() -> None:  # in a thread: name resolution has no timeout of its own
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            result["ok"] = ""
        except OSError as exc:
            result["error"] = str(exc) or type(exc).__name__

    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(timeout_s + 1.0)
    if "ok" in result:
        return None
    return result.get("error", f"no answer within {timeout_s:g} s")
