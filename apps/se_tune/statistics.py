"""How sure a search is: a configuration's mean with its 95% interval, and the
paired comparison of two configurations trained on the same seeds.

Intervals are Student's t intervals (scipy.stats.t): of the mean over a
configuration's seeds, and of the mean of the per-seed differences between two
configurations (the paired t-test's interval). Seed k trains every
configuration from the same initial weights' seed and batch order, so the
pairing removes the seed's own luck from the difference.

An accuracy lies in [0, 1], and so must its interval: a plain t interval of
0.99, 1.0 and 1.0 runs to 1.0104. A bounded quantity's interval is the t
interval of its logits, mapped back (a t interval on a transformed scale), so
it never leaves the bounds. A value on a bound has an infinite logit: it moves
half a step inside (the empirical logit, Haldane-Anscombe's 1/2 correction;
the step of an accuracy over N images is 1/N).
"""

import dataclasses
import math
from typing import Optional

import numpy as np
from scipy import special, stats

CONFIDENCE = 0.95


@dataclasses.dataclass(frozen=True)
class Interval:
    """A mean over `n` values with its standard deviation and 95% interval
    (`low`, `high`; None for a single value, which has no interval)."""

    mean: float
    sd: float
    n: int
    low: Optional[float] = None
    high: Optional[float] = None

    def contains_zero(self):
        return self.low is None or self.low <= 0 <= self.high


def mean_interval(values, bounds=None, step=None):
    """The mean of `values` with its 95% t interval.

    Args:
        values: one number per seed.
        bounds: (low, high) that the values cannot leave, (0, 1) for an
            accuracy: the interval is then a t interval of the logits of the
            values' position between the bounds, mapped back, so it stays
            inside them. None: a plain t interval.
        step: the values' resolution (1/N for an accuracy over N images): with
            `bounds`, a value on a bound is taken half a step inside. None: a
            thousandth of the range.

    Example:

    >>> mean_interval([0.90, 0.92, 0.94]).low
    0.8703...
    >>> mean_interval([0.99, 1.0, 1.0], bounds=(0, 1), step=1 / 300).high
    0.9998...
    """
    values = np.asarray(list(values), dtype="float64")
    n = len(values)
    mean = float(values.mean())
    if n < 2:
        return Interval(mean, 0.0 if n else math.nan, n)
    sd = float(values.std(ddof=1))
    t = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1))
    if bounds is None:
        half = t * sd / math.sqrt(n)
        return Interval(mean, sd, n, mean - half, mean + half)
    low, high = bounds
    span = high - low
    inside = (step if step is not None else span / 1000) / 2 / span
    share = np.clip((values - low) / span, inside, 1 - inside)
    logits = np.log(share) - np.log1p(-share)
    half = t * float(logits.std(ddof=1)) / math.sqrt(n)
    centre = float(logits.mean())
    return Interval(mean, sd, n, low + span * float(special.expit(centre - half)),
                    low + span * float(special.expit(centre + half)))


def paired_difference(values, baseline):
    """The mean per-seed difference `values - baseline` with its t interval.

    Args:
        values, baseline: dicts of seed -> value; only the seeds both have count.

    Example:

    >>> paired_difference({1: 0.95, 2: 0.96}, {1: 0.94, 2: 0.94}).mean
    0.015...
    """
    seeds = sorted(set(values) & set(baseline))
    return mean_interval([values[s] - baseline[s] for s in seeds])


def verdict(label, difference, against="no SE", gain="SE pays", loss="SE costs accuracy",
            neither="no difference shown", metric=None, lower_is_better=False):
    """One sentence on `difference`: of accuracy (a fraction, said in points),
    or of another `metric` (said as it is).

    Args:
        label: what is compared, for example "r=8".
        difference: a `paired_difference`.
        against: what it is compared with.
        gain, loss, neither: the conclusion when the interval lies on the
            better side of zero, on the worse side, or contains it.
        metric: the metric's name, when it is not an accuracy.
        lower_is_better: whether a negative difference is the better side
            (a loss).

    Example:

    >>> verdict("r=8", Interval(0.006, 0.004, 5, 0.001, 0.011))
    'r=8: +0.6 points over no SE (95% CI +0.1 to +1.1, 5 seeds): SE pays'
    >>> verdict("r=8", Interval(-0.02, 0.01, 5, -0.03, -0.01), metric="val_loss",
    ...         lower_is_better=True, loss="SE is worse")
    'r=8: -0.0200 val_loss against no SE (95% CI -0.0300 to -0.0100, 5 seeds): SE pays'
    """
    say = _points if metric is None else (lambda value: f"{value:+.4f}")
    head = (f"{label}: {say(difference.mean)} points over {against}" if metric is None
            else f"{label}: {say(difference.mean)} {metric} against {against}")
    if difference.low is None:
        return (f"{head} ({difference.n} seed): no interval from one seed "
                "(search.repeats), no conclusion")
    better = difference.high < 0 if lower_is_better else difference.low > 0
    conclusion = neither if difference.contains_zero() else gain if better else loss
    return (f"{head} (95% CI {say(difference.low)} to {say(difference.high)}, "
            f"{difference.n} seeds): {conclusion}")


def _points(fraction):
    return f"{fraction * 100:+.1f}"
