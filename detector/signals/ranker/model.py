"""Ranker stage, the model: window features → how likely a moment is one people clip.

Consumes ``WindowFeatures``; produces a per-bin score. The model is a logistic regression over
standardised features, ``logit = b + Σ β_f (x_f − μ_f) / σ_f``, stored as a small JSON file (no
pickle) and evaluated with numpy alone, so the runtime install needs no learning library. The shipped
default (``default_model.json`` beside this module) was fitted on generic chat features only (see
``detector.signals.ranker.fit``); a community's adaptation (``detector.signals.ranker.adapt``) is the same file format
with re-weighted coefficients, an optional learned lexicon and a note of what it learned from.

For fusion the logit is turned into a robust z-score against the VOD's own distribution (median and
MAD of the logit over the VOD), so it sits on the same scale as audio and the other tracks.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from detector.errors import ConfigError
from detector.signals.baseline import MAD_TO_SIGMA
from detector.signals.chat_learned import TokenWeights
from detector.signals.ranker.features import FEATURES_VERSION, NAMES, WindowFeatures

FORMAT = "highlights-ranker/1"
DEFAULT_FILE = "default_model.json"


@dataclass(frozen=True, slots=True)
class RankerModel:
    """A fitted window ranker (see the module docstring)."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    lag_s: float = 20.0
    """The chat reaction lag the labels were matched with when fitting."""
    lexicon: TokenWeights | None = None
    """A community's learned token weights (feeds the ``learned_wide`` feature); None in the default."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Where the model came from: ``kind`` (``default`` or ``adapted``), what it was fitted on, CV numbers."""

    def logit(self, feats: WindowFeatures) -> np.ndarray:
        """The model's log-odds per bin."""
        rows = np.vstack([feats.row(n) for n in self.names]).astype(np.float64)
        z = (rows - self.mean[:, None]) / self.scale[:, None]
        return (self.intercept + self.coef @ z).astype(np.float32)

    def z_score(self, feats: WindowFeatures) -> np.ndarray:
        """The logit as a robust z-score against the VOD's own median and MAD (for fusion)."""
        return robust_standardise(self.logit(feats), feats.active)

    def weights(self) -> dict[str, float]:
        """Coefficient per feature, in standard-deviation units (for explanations and reports)."""
        return {n: float(c) for n, c in zip(self.names, self.coef)}

    def with_meta(self, **meta: Any) -> RankerModel:
        return replace(self, meta={**self.meta, **meta})

    # -- files ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "features_version": FEATURES_VERSION, "lag_s": self.lag_s,
            "features": [{"name": n, "mean": round(float(m), 6), "scale": round(float(s), 6), "coef": round(float(c), 6)}
                         for n, m, s, c in zip(self.names, self.mean, self.scale, self.coef)],
            "intercept": round(float(self.intercept), 6),
            "lexicon": None if self.lexicon is None else {
                "lag_s": self.lexicon.lag_s, "weights": {k: round(v, 4) for k, v in sorted(self.lexicon.weights.items())}},
            "meta": self.meta,
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def from_dict(cls, data: Any, where: str = "ranker model") -> RankerModel:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ConfigError(f"{where} is not a {FORMAT} file.",
                              hint="Make one with `highlights adapt` (or use the shipped default).")
        if data.get("features_version") != FEATURES_VERSION:
            raise ConfigError(f"{where} was fitted on features version {data.get('features_version')!r}; "
                              f"this code computes version {FEATURES_VERSION}.", hint="Fit it again with `highlights adapt`.")
        rows = data.get("features")
        if not isinstance(rows, list) or not rows:
            raise ConfigError(f"{where}: 'features' must be a non-empty list.")
        names, mean, scale, coef = [], [], [], []
        for row in rows:
            name = row.get("name") if isinstance(row, dict) else None
            if name not in NAMES or name in names:
                raise ConfigError(f"{where}: unknown or repeated feature {name!r}.", hint=f"Known: {', '.join(NAMES)}.")
            values = [row.get(k) for k in ("mean", "scale", "coef")]
            if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values) \
                    or values[1] <= 0:
                raise ConfigError(f"{where}: feature {name} needs finite mean, coef and a positive scale.")
            names.append(name)
            mean.append(values[0])
            scale.append(values[1])
            coef.append(values[2])
        intercept, lag = data.get("intercept", 0.0), data.get("lag_s", 20.0)
        if not isinstance(intercept, int | float) or not math.isfinite(intercept):
            raise ConfigError(f"{where}: intercept must be a finite number.")
        if not isinstance(lag, int | float) or not 0 <= lag <= 120:
            raise ConfigError(f"{where}: lag_s must be seconds in [0, 120].")
        lexicon = None
        raw_lex = data.get("lexicon")
        if raw_lex is not None:
            weights = raw_lex.get("weights") if isinstance(raw_lex, dict) else None
            if not isinstance(weights, dict) or not all(
                    isinstance(k, str) and isinstance(v, int | float) and math.isfinite(v) for k, v in weights.items()):
                raise ConfigError(f"{where}: lexicon.weights must map tokens to finite numbers.")
            lexicon = TokenWeights({k: float(v) for k, v in weights.items()}, float(raw_lex.get("lag_s", lag)))
        raw_meta = data.get("meta")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        return cls(tuple(names), np.asarray(mean, float), np.asarray(scale, float), np.asarray(coef, float),
                   float(intercept), float(lag), lexicon, dict(meta))

    @classmethod
    def load(cls, path: Path) -> RankerModel:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"Ranker model {path} does not exist.", hint="Check the path, or leave it out for the default.") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"Ranker model {path} is not readable JSON: {exc}.") from None
        return cls.from_dict(data, f"Ranker model {path}")


def robust_standardise(x: np.ndarray, over: slice | None = None) -> np.ndarray:
    """``(x − median) / (1.4826 · MAD)``, the statistics taken over ``x[over]`` (default: all of it;
    the scale is floored so a flat curve stays flat)."""
    ref = x if over is None else x[over]
    if len(ref) == 0:
        return x.astype(np.float32)
    med = float(np.median(ref))
    mad = float(np.median(np.abs(ref - med)))
    return ((x - med) / max(MAD_TO_SIGMA * mad, 1e-3)).astype(np.float32)


@lru_cache(maxsize=1)
def default_model() -> RankerModel:
    """The shipped default ranker (``detector/signals/ranker/default_model.json``)."""
    text = resources.files("detector.signals.ranker").joinpath(DEFAULT_FILE).read_text(encoding="utf-8")
    return RankerModel.from_dict(json.loads(text), "The shipped ranker model")
