"""Has the served class mix moved from the training mix? A calibrated drift score from Pearson's chi-square test.

Why not PSI against a fixed threshold: PSI of a sample against the training shares grows with the number
of classes and shrinks with the sample (each class's share is noisy), so no single threshold holds from
10 to 5,000 classes; with 100 Zipf-distributed classes and 500 predictions, PSI > 0.2 in 97 % of windows
that did not drift at all (issue 16). Instead, the window's counts are tested against the training shares:

1. Classes are pooled (smallest training shares first) until every bin expects at least `MIN_EXPECTED`
   predictions, Cochran's (1954) rule for the chi-square approximation; all classes take part, the rare
   ones pooled, and classes without a training share fall into the rarest bin.
2. Pearson's X² = Σ (O − E)² / E over the bins. Under no drift its mean is B − 1 and its exact variance
   is 2(B − 1) + (Σ 1/π_b − B² − 2B + 2) / N (Haldane 1937; π_b the bins' shares, N predictions); it is
   matched to c·χ²(ν) with the same two moments (Satterthwaite's approximation), which keeps the tail right
   when a few bins are small and many are large.
3. The p-value is the regularized upper incomplete gamma function Q(ν/2, X²/(2c)), computed in log space
   (series or Lentz's continued fraction, as in Numerical Recipes §6.2), so it never underflows.
4. Where pooling leaves one bin (a class so dominant that all the others together expect fewer than
   `MIN_EXPECTED` predictions, or a window just large enough for two), no chi-square can test it: the other classes,
   pooled, are tested against the largest exactly (binomial, two-sided), so a rare class answered a hundred times
   as often as it trained is not passed over as "too little traffic".

The score is −log10(p): 2 means "one window in a hundred would look at least this different by chance",
3 one in a thousand, whatever the number of classes or predictions. The total variation distance between
the binned mixes (the share of traffic that moved between bins) is returned alongside as the effect size.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from drift_monitor.exceptions import InvalidSharesError

if TYPE_CHECKING:
    from collections.abc import Mapping

# Cochran's rule: the chi-square approximation holds once every bin expects at least 5 observations.
MIN_EXPECTED = 5.0
# Convergence of the incomplete gamma function's series and continued fraction.
_EPSILON = 1e-15
_TINY = 1e-300
_MAX_ITERATIONS = 100_000


@dataclass(frozen=True)
class ClassMixTest:
    """The outcome of comparing one window's predicted counts with the training shares."""

    predictions: float
    bins: int
    statistic: float
    degrees_of_freedom: float
    score: float
    tvd: float


def normalise_shares(raw: object) -> dict[str, float]:
    """Training class shares as fractions summing to 1.

    Args:
        raw: `class_shares` from the model's metadata: a JSON object of class name to share.

    Returns:
        The shares divided by their sum.

    Raises:
        InvalidSharesError: Not an object, a share that is not a finite non-negative number, or all zero.
    """
    if not isinstance(raw, dict) or not raw:
        raise InvalidSharesError(f"class_shares must be a non-empty object of class to share, got {_sample(raw)}")
    for label, share in raw.items():
        if not isinstance(label, str) or isinstance(share, bool) or not isinstance(share, int | float):
            raise InvalidSharesError(f"class_shares[{label!r}] must be a number, got {_sample(share)}")
        if share < 0 or not abs(share) <= sys.float_info.max:  # an integer beyond a float's range too, not NaN
            raise InvalidSharesError(f"class_shares[{label!r}] must be finite and ≥ 0, got {share!r}")
    total = sum(float(share) for share in raw.values())  # not fsum: it raises on overflow instead of giving inf
    if not 0 < total < math.inf:
        raise InvalidSharesError(f"class_shares must have a positive, finite sum, got {total}")
    return {label: float(share) / total for label, share in raw.items()}


def bin_class_mix(shares: Mapping[str, float], counts: Mapping[str, float]) -> tuple[list[float], list[float]]:
    """Pool classes into bins that each expect at least MIN_EXPECTED predictions.

    Classes are taken from the smallest training share up (ties by name, so the bins are reproducible); a
    class expecting MIN_EXPECTED or more on its own is a bin of its own, and a remainder too small to be a
    bin joins the previous one. With fewer than MIN_EXPECTED predictions in all, everything is one bin.

    Args:
        shares: Training shares, summing to 1.
        counts: Predictions per class; a class without a count had none.

    Returns:
        Each bin's training share and its predicted count, rarest bin first.
    """
    total = math.fsum(counts.values())
    bin_shares: list[float] = []
    observed: list[float] = []
    share_sum = count_sum = 0.0
    pending = False
    for share, label in sorted((share, label) for label, share in shares.items()):
        share_sum += share
        count_sum += counts.get(label, 0.0)
        pending = True
        if share_sum * total >= MIN_EXPECTED:
            bin_shares.append(share_sum)
            observed.append(count_sum)
            share_sum = count_sum = 0.0
            pending = False
    if pending and bin_shares:
        bin_shares[-1] += share_sum
        observed[-1] += count_sum
    elif pending:
        bin_shares.append(share_sum)
        observed.append(count_sum)
    return bin_shares, observed


def compare_class_mix(shares: Mapping[str, float], counts: Mapping[str, float]) -> ClassMixTest | None:
    """Test one window's predicted counts per class against the training shares.

    Args:
        shares: Training shares, summing to 1 (see `normalise_shares`).
        counts: Predictions per class in the window; a class without a count had none.

    Returns:
        The test, or None when the window is too small to form two bins (fewer than 2·MIN_EXPECTED predictions),
        or has one class only.

    Raises:
        ValueError: A count for a class without a training share, or a negative or non-finite count.
    """
    unknown = counts.keys() - shares.keys()
    if unknown:
        raise ValueError(f"counts for classes without a training share: {sorted(unknown)[:5]}")
    if not all(0 <= count < math.inf for count in counts.values()):
        raise ValueError("counts must be finite and ≥ 0")
    bin_shares, observed = bin_class_mix(shares, counts)
    bins = len(bin_shares)
    if bins < 2:
        return _dominant_class_test(shares, counts)
    total = math.fsum(observed)
    statistic = math.fsum((o - total * p) ** 2 / (total * p) for o, p in zip(observed, bin_shares, strict=True))
    mean = bins - 1
    variance = 2 * mean + (math.fsum(1 / p for p in bin_shares) - bins * bins - 2 * bins + 2) / total
    scale = variance / (2 * mean)
    dof = 2 * mean * mean / variance
    score = -chi_square_log_sf(statistic / scale, dof) / math.log(10)
    tvd = 0.5 * math.fsum(abs(o / total - p) for o, p in zip(observed, bin_shares, strict=True))
    return ClassMixTest(predictions=total, bins=bins, statistic=statistic, degrees_of_freedom=dof, score=score, tvd=tvd)


def _dominant_class_test(shares: Mapping[str, float], counts: Mapping[str, float]) -> ClassMixTest | None:
    """The other classes, pooled, against the largest one, by the exact binomial test (`compare_class_mix`, step
    4); None below 2·MIN_EXPECTED predictions, or with one class (or the others' share 0)."""
    total = math.fsum(counts.values())
    largest = max(shares, key=lambda label: (shares[label], label))
    rest = 1.0 - shares[largest]
    if total < 2 * MIN_EXPECTED or len(shares) < 2 or rest <= 0:
        return None
    n, k = round(total), round(total - counts.get(largest, 0.0))
    # two-sided: twice the tail on k's side of the mean, at most 1
    score = max(0.0, -(_log_binomial_tail(k, n, rest) + math.log(2)) / math.log(10))
    expected = n * rest
    statistic = (k - expected) ** 2 / expected + (k - expected) ** 2 / (n - expected)
    return ClassMixTest(predictions=total, bins=2, statistic=statistic, degrees_of_freedom=1.0, score=score,
                        tvd=abs(k / n - rest))  # fmt: skip


def _log_binomial_tail(k: int, n: int, p: float) -> float:
    """log P(X ≥ k) when k is above the mean of X ~ Binomial(n, p), else log P(X ≤ k): summed in log space from k
    away from the mean, where each term is smaller than the one before, until they no longer change the sum (the
    caller's windows are small, or the others' mean is under MIN_EXPECTED: a few dozen terms at most)."""
    upper = k > n * p
    total = -math.inf
    for i in range(k, n + 1) if upper else range(k, -1, -1):
        term = (
            math.lgamma(n + 1)
            - math.lgamma(i + 1)
            - math.lgamma(n - i + 1)
            + i * math.log(p)
            + (n - i) * math.log1p(-p)
        )
        if term < total + math.log(_EPSILON):
            break
        total = term if total == -math.inf else max(total, term) + math.log1p(math.exp(-abs(total - term)))
    return min(total, 0.0)


def chi_square_log_sf(x: float, dof: float) -> float:
    """Natural log of P(χ²(dof) > x), accurate far into the tail (no underflow to log 0).

    Raises:
        ValueError: dof is not positive.
    """
    if dof <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {dof}")
    return _log_upper_gamma(dof / 2, x / 2)


def _log_upper_gamma(a: float, x: float) -> float:
    """log Q(a, x), the regularized upper incomplete gamma function (Numerical Recipes gser/gcf, in logs)."""
    if x <= 0:
        return 0.0
    log_prefix = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:  # the series for P converges fast here, and Q is not small
        term = total = 1 / a
        denominator = a
        for _ in range(_MAX_ITERATIONS):
            denominator += 1
            term *= x / denominator
            total += term
            if abs(term) < abs(total) * _EPSILON:
                break
        return math.log1p(-min(1.0, math.exp(log_prefix + math.log(total))))
    b = x + 1 - a  # Lentz's method for the continued fraction of Q
    c = 1 / _TINY
    d = 1 / b
    h = d
    for i in range(1, _MAX_ITERATIONS):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < _EPSILON:
            break
    return log_prefix + math.log(h)


def _sample(value: object) -> str:
    """A short description of a bad value for an error message."""
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'…' if len(text) > 60 else ''}"
