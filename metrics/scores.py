"""Every figure of METRICS.md, computed exactly from a histogram of answer counts.

Pure functions: rollups hold histograms, selectors add them up, and these turn a summed
histogram into the score, its 95 % interval and the rest. Nothing here rounds.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.special import stdtrit

# METRICS.md writes 1.96, and an auditor re-computing in a spreadsheet uses 1.96: so do we.
Z95 = 1.96

# Bins per scored kind: bin i counts answers with score LOW + i.
SCALE = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
BINS = {kind: high - low + 1 for kind, (low, high) in SCALE.items()}


@dataclass(frozen=True)
class Thresholds:
    low_sample: int = 30
    privacy: int = 5


def summarize(kind: str, histogram: Sequence[int], thresholds: Thresholds = Thresholds()) -> dict:
    """The API's figures for one question: n, score, ci95, histogram, low_sample and the
    kind's extras. The caller decides whether the privacy threshold applies."""
    histogram = [int(c) for c in histogram]
    if len(histogram) != BINS[kind]:
        raise ValueError(f"{kind} needs {BINS[kind]} bins, got {len(histogram)}")
    figures = {"nps": nps, "csat": csat, "ces": ces}[kind](histogram)
    figures["low_sample"] = figures["n"] < thresholds.low_sample
    return figures


def redact_for_privacy(figures: dict) -> dict:
    """What may be shown about one staff member below the privacy threshold: only how many
    answers there are (a histogram would give the score away)."""
    return {key: (value if key in ("n", "low_sample") else None) for key, value in figures.items()}


def nps(histogram: Sequence[int]) -> dict:
    n = sum(histogram)
    promoters, passives, detractors = sum(histogram[9:11]), sum(histogram[7:9]), sum(histogram[0:7])
    out = {
        "n": n,
        "score": None,
        "ci95": None,
        "promoters": promoters,
        "passives": passives,
        "detractors": detractors,
        "histogram": list(histogram),
        "_se": None,
    }
    if n == 0:
        return out
    p, d = promoters / n, detractors / n
    score = 100 * (p - d)
    variance = p + d - (p - d) ** 2
    se = 100 * math.sqrt(max(variance, 0.0) / n)
    out.update(
        score=score, _se=se, ci95=[max(score - Z95 * se, -100.0), min(score + Z95 * se, 100.0)]
    )
    return out


def csat(histogram: Sequence[int]) -> dict:
    n = sum(histogram)
    out = {
        "n": n,
        "score": None,
        "ci95": None,
        "mean": None,
        "histogram": list(histogram),
        "_se": None,
    }
    if n == 0:
        return out
    satisfied = histogram[3] + histogram[4]
    p = satisfied / n
    low, high = wilson(satisfied, n)
    out.update(
        score=100 * p,
        ci95=[100 * low, 100 * high],
        mean=sum((i + 1) * c for i, c in enumerate(histogram)) / n,
        _se=100 * math.sqrt(p * (1 - p) / n),
    )
    return out


def ces(histogram: Sequence[int]) -> dict:
    n = sum(histogram)
    out = {
        "n": n,
        "score": None,
        "ci95": None,
        "easy_share": None,
        "histogram": list(histogram),
        "_se": None,
    }
    if n == 0:
        return out
    mean = sum((i + 1) * c for i, c in enumerate(histogram)) / n
    out.update(score=mean, easy_share=100 * sum(histogram[4:7]) / n)
    if n >= 2:
        variance = sum(c * ((i + 1) - mean) ** 2 for i, c in enumerate(histogram)) / (n - 1)
        se = math.sqrt(variance / n)
        half = stdtrit(n - 1, 0.975) * se
        out.update(ci95=[max(mean - half, 1.0), min(mean + half, 7.0)], _se=se)
    return out


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a proportion."""
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(centre - half, 0.0), min(centre + half, 1.0)


def compare(a: dict, b: dict) -> dict | None:
    """Is A different from B? z = (A − B) / sqrt(SE_A² + SE_B²); real when |z| ≥ 1.96."""
    if a.get("_se") is None or b.get("_se") is None:
        return None
    spread = math.sqrt(a["_se"] ** 2 + b["_se"] ** 2)
    difference = a["score"] - b["score"]
    if spread == 0:
        z = 0.0 if difference == 0 else math.copysign(math.inf, difference)
    else:
        z = difference / spread
    return {"difference": difference, "z": z, "real": abs(z) >= Z95}


def public(figures: dict) -> dict:
    """The figures without the internal standard error."""
    return {key: value for key, value in figures.items() if not key.startswith("_")}
