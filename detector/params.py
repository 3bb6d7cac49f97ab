"""The single table of tunable detector parameters.

Every threshold and weight the detector uses is declared here once, with its default, range, unit
and meaning. The CLI (``--set name=value``), the config file (TOML) and vote-based tuning all go
through :class:`Settings`, which rejects unknown names and clamps values to the declared range.
"""

from __future__ import annotations

import logging
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from detector.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Param:
    """One tunable parameter."""

    name: str
    default: float
    min: float
    max: float
    unit: str
    meaning: str
    integer: bool = False


PARAMS: tuple[Param, ...] = (
    # --- chat signal -------------------------------------------------------------------------
    Param("chat_smooth_s", 5.0, 1.0, 60.0, "s", "width of the moving window that smooths chat counts"),
    Param("chat_baseline_s", 900.0, 30.0, 3600.0, "s", "window of the robust local baseline chat is compared with"),
    Param("chat_lag_prior_s", 20.0, 0.0, 60.0, "s", "how late chat reacts when the lag cannot be estimated from audio"),
    Param("chat_lag_min_s", 5.0, 0.0, 60.0, "s", "smallest chat reaction lag the estimator may choose"),
    Param("chat_lag_max_s", 40.0, 0.0, 120.0, "s", "largest chat reaction lag the estimator may choose"),
    Param("chat_lag_min_corr", 0.15, 0.0, 1.0, "corr", "chat/audio correlation needed to trust an estimated lag over the prior"),
    # --- audio signal ------------------------------------------------------------------------
    Param("audio_frame_s", 0.05, 0.01, 0.5, "s", "analysis frame for RMS loudness and spectra"),
    Param("audio_smooth_s", 3.0, 0.5, 30.0, "s", "width of the moving window that smooths audio features"),
    Param("audio_baseline_s", 300.0, 30.0, 3600.0, "s", "window of the robust local baseline audio is compared with"),
    # --- fusion weights (dimensionless, applied to robust z-scores) ---------------------------
    Param("w_chat_learned", 1.0, 0.0, 5.0, "", "weight of the learned-lexicon score (only with --lexicon)"),
    Param("w_chat_rate", 0.0, 0.0, 5.0, "", "weight of the chat message-rate z-score"),
    Param("w_chat_hype", 1.0, 0.0, 5.0, "", "weight of the hype-token density z-score"),
    Param("w_chat_emote", 0.0, 0.0, 5.0, "", "weight of the emote density z-score"),
    Param("w_chat_unique", 0.3, 0.0, 5.0, "", "weight of the unique-chatter z-score (when authors are known)"),
    Param("w_audio_rms", 1.0, 0.0, 5.0, "", "weight of the audio loudness z-score"),
    Param("w_audio_flux", 0.5, 0.0, 5.0, "", "weight of the spectral-flux (onset) z-score"),
    Param("w_audio_voice", 0.5, 0.0, 5.0, "", "weight of the voice-band loudness z-score"),
    # --- candidates --------------------------------------------------------------------------
    Param("threshold", 1.0, -5.0, 20.0, "z", "fused score a peak must reach to become a candidate"),
    Param("min_gap_s", 60.0, 5.0, 1800.0, "s", "non-max suppression: the least distance between two candidates' peaks"),
    Param("pre_roll_s", 10.0, 0.0, 120.0, "s", "seconds kept before the peak when the score gives no better start"),
    Param("post_roll_s", 8.0, 0.0, 120.0, "s", "seconds kept after the peak when the score gives no better end"),
    Param("min_len_s", 12.0, 2.0, 600.0, "s", "shortest clip"),
    Param("max_len_s", 45.0, 5.0, 1800.0, "s", "longest clip"),
    Param("extend_ratio", 0.5, 0.0, 1.0, "", "a clip extends while the score stays above this share of its peak"),
    Param("top_k", 10, 1, 500, "clips", "how many candidates to return", integer=True),
)

PARAMS_BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}


class Settings(Mapping[str, float]):
    """Parameter values: the defaults, overridden and clamped to the table's ranges."""

    def __init__(self, values: Mapping[str, float] | None = None) -> None:
        self._values: dict[str, float] = {p.name: p.default for p in PARAMS}
        self.clamped: list[str] = []
        if values:
            self.update(values)

    def __getitem__(self, name: str) -> float:
        return self._values[name]

    def __iter__(self):  # type: ignore[override]
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, name: str) -> float:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def update(self, values: Mapping[str, object]) -> None:
        for name, raw in values.items():
            self._values[name] = self._validate(name, raw)

    def _validate(self, name: str, raw: object) -> float:
        param = PARAMS_BY_NAME.get(name)
        if param is None:
            close = [p.name for p in PARAMS if name.split("_")[0] in p.name][:5]
            hint = f"Known names include: {', '.join(close)}." if close else "Run `highlights params` to list them."
            raise ConfigError(f"Unknown parameter {name!r}.", hint=hint)
        try:
            value = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ConfigError(f"Parameter {name} must be a number, got {raw!r}.") from None
        if not math.isfinite(value):
            raise ConfigError(f"Parameter {name} must be finite, got {raw!r}.")
        clamped = min(max(value, param.min), param.max)
        if clamped != value:
            msg = f"{name}={value:g} is outside [{param.min:g}, {param.max:g}] {param.unit}; using {clamped:g}"
            log.warning(msg)
            self.clamped.append(msg)
        return float(round(clamped)) if param.integer else clamped

    def as_dict(self) -> dict[str, float]:
        return dict(self._values)

    @classmethod
    def load(cls, config: Path | None = None, overrides: Iterable[str] = ()) -> Settings:
        """Defaults, then a TOML config file (``[detector]`` table or top level), then ``name=value``."""
        settings = cls()
        if config is not None:
            settings.update(_read_config(config))
        parsed: dict[str, str] = {}
        for item in overrides:
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise ConfigError(f"--set expects name=value, got {item!r}.")
            parsed[name.strip()] = value.strip()
        settings.update(parsed)
        return settings


def _read_config(path: Path) -> dict[str, object]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Config file {path} cannot be read: {exc}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}.") from None
    table = data.get("detector", data)
    if not isinstance(table, dict):
        raise ConfigError(f"Config file {path}: [detector] must be a table of name = value.")
    return {k: v for k, v in table.items() if not isinstance(v, dict)}
