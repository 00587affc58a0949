"""Confidence intervals used across the analysis: Wilson for a proportion, a paired interval for a difference."""

from __future__ import annotations

import numpy as np
from scipy import stats as scipy_stats
from statsmodels.stats.proportion import proportion_confint


def wilson_interval(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval of a proportion (statsmodels); (NaN, NaN) for n = 0."""
    if n == 0:
        return float("nan"), float("nan")
    low, high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return float(low), float(high)


def paired_difference_interval(b: int, c: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Bonett-Price adjusted Wald interval for a difference of paired proportions (error_variant - error_orig).

    The error-rate difference of paired answers is ``(b - c) / n``; adding one to each discordant count
    (Bonett & Price 2012, Stat. Med. 31:2901) keeps the interval sensible with few pairs or no discordant
    pairs, which the demo's small runs produce. Returns proportions, not percent.
    """
    if n == 0:
        return float("nan"), float("nan")
    p12, p21 = (b + 1) / (n + 2), (c + 1) / (n + 2)
    diff = p12 - p21
    se = np.sqrt(max(p12 + p21 - diff**2, 0.0) / (n + 2))
    z = scipy_stats.norm.ppf(1 - alpha / 2)
    return float(max(diff - z * se, -1.0)), float(min(diff + z * se, 1.0))
