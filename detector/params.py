"""The single table of tunable detector parameters, and ``Settings`` built on it.

Every threshold and weight the detector uses is declared once, with its default, range, unit and
meaning, in ``storage.tuning_params`` (pure data, so the bot can clamp vote tuning to the same
ranges without importing the detector); this module re-exports it. The CLI (``--set name=value``),
the config file (TOML) and vote-based tuning all go through :class:`Settings`, which rejects unknown
names and clamps values to the declared range.
"""

from __future__ import annotations

import logging
import math
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

from detector.errors import ConfigError
from storage.tuning_params import PARAMS, PARAMS_BY_NAME, Param

log = logging.getLogger(__name__)

__all__ = ["PARAMS", "PARAMS_BY_NAME", "Param", "Settings"]


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
