"""The search's intervals and verdicts, on accuracies whose differences are known."""

import math
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "apps"))

from se_tune.results import verdict_lines  # noqa: E402
from se_tune.statistics import mean_interval, paired_difference  # noqa: E402

# Student's t quantiles t(0.975, df) from a printed table.
T_975 = {2: 4.303, 4: 2.776}
BASELINE = [0.90, 0.92, 0.94, 0.91, 0.93]


def _rows(configurations):
    """Results rows of a se_ratio search: ratio -> accuracy per seed (seeds 0, 1, ...)."""
    rows = []
    for trial, (ratio, accuracies) in enumerate(configurations.items()):
        runs = [{"seed": seed, "best_val_accuracy": a, "latency_1_ms": 1.0}
                for seed, a in enumerate(accuracies)]
        rows.append({"trial": str(trial), "status": "COMPLETED", "se_ratio": ratio, "runs": runs,
                     "best_val_accuracy": sum(accuracies) / len(accuracies), "epochs": 2})
    return rows


def test_the_interval_of_a_mean_is_students_t_interval():
    interval = mean_interval([0.90, 0.92, 0.94])
    # mean 0.92, sd 0.02, half-width t(0.975, 2) * 0.02 / sqrt(3)
    half = T_975[2] * 0.02 / math.sqrt(3)
    assert interval.mean == pytest.approx(0.92)
    assert interval.sd == pytest.approx(0.02)
    assert interval.low == pytest.approx(0.92 - half, abs=1e-5)
    assert interval.high == pytest.approx(0.92 + half, abs=1e-5)
    assert mean_interval([0.9]).low is None  # one seed has no interval


def test_an_accuracy_interval_stays_inside_zero_and_one():
    # 0.99, 1.0, 1.0 over 300 images; 1.0 moves half an image inside: logits
    # ln(0.99 / 0.01) = 4.5951 and ln(599) = 6.3953 (twice): mean 5.7952, sd
    # 1.8002 / sqrt(3), half-width t(0.975, 2) * sd / sqrt(3) = 2.5822.
    interval = mean_interval([0.99, 1.0, 1.0], bounds=(0, 1), step=1 / 300)
    assert interval.mean == pytest.approx(0.996667, abs=1e-6)
    assert interval.low == pytest.approx(1 / (1 + math.exp(-(5.7952 - 2.5822))), abs=1e-4)
    assert interval.high == pytest.approx(1 / (1 + math.exp(-(5.7952 + 2.5822))), abs=1e-5)
    assert 0 < interval.low < interval.high < 1
    assert mean_interval([0.0, 0.0, 0.01], bounds=(0, 1), step=1 / 300).low > 0
    # The search's rows: the table's interval and the verdict's.
    rows = _rows({8: [0.99, 1.0, 1.0], None: [0.98, 0.99, 1.0]})
    rows[0]["val_images"] = 300
    assert verdict_lines(rows, ["se_ratio"])[-2] == (
        "best by mean: r=8 (mean 99.7%, 95% CI 96.1 to 100.0, 3 seeds)")


def test_a_known_gain_over_the_baseline_is_found_with_its_interval():
    gains = [0.010, 0.012, 0.008, 0.011, 0.009]  # mean 0.010, sd sqrt(2.5) / 1000
    rows = _rows({8: [b + g for b, g in zip(BASELINE, gains)], None: BASELINE})
    difference = paired_difference(
        {s: r["best_val_accuracy"] for s, r in enumerate(rows[0]["runs"])},
        dict(enumerate(BASELINE)))
    half = T_975[4] * math.sqrt(2.5) / 1000 / math.sqrt(5)
    assert difference.mean == pytest.approx(0.010)
    assert (difference.low, difference.high) == pytest.approx((0.010 - half, 0.010 + half),
                                                              abs=1e-5)
    assert verdict_lines(rows, ["se_ratio"])[0] == (
        "r=8: +1.0 points over no SE (95% CI +0.8 to +1.2, 5 seeds): SE pays")


def test_the_comparison_is_paired_over_seeds():
    # The seeds' own luck (0.80 to 0.95) dwarfs SE's steady +0.5 points: the
    # configurations' own intervals overlap, the paired difference does not.
    baseline = [0.80, 0.95, 0.85, 0.90, 0.88]
    rows = _rows({4: [b + 0.005 for b in baseline], None: baseline})
    se, plain = (mean_interval([r["best_val_accuracy"] for r in row["runs"]]) for row in rows)
    assert se.low < plain.high
    assert verdict_lines(rows, ["se_ratio"])[0].endswith("5 seeds): SE pays")


def test_identical_configurations_show_no_difference():
    rows = _rows({4: BASELINE, 16: list(BASELINE), None: list(BASELINE)})
    lines = verdict_lines(rows, ["se_ratio"])
    assert lines[:2] == [
        "r=4: +0.0 points over no SE (95% CI +0.0 to +0.0, 5 seeds): no difference shown",
        "r=16: +0.0 points over no SE (95% CI +0.0 to +0.0, 5 seeds): no difference shown"]
    assert lines[-1].endswith("not distinguishable from the runner-up")


def test_noise_around_zero_shows_no_difference_and_a_loss_is_named():
    noisy = [b + d for b, d in zip(BASELINE, [0.02, -0.01, 0.01, -0.015, 0.0])]
    worse = [b - 0.02 + d for b, d in zip(BASELINE, [0.001, -0.001, 0.0, 0.002, -0.002])]
    lines = verdict_lines(_rows({2: noisy, 32: worse, None: BASELINE}), ["se_ratio"])
    assert lines[0].startswith("r=2: +0.1 points over no SE (95% CI -")
    assert lines[0].endswith("no difference shown")
    assert lines[1].startswith("r=32: -2.0 points over no SE (95% CI -2.")
    assert lines[1].endswith("SE costs accuracy")


def test_the_best_configuration_against_the_runner_up():
    clear = _rows({8: [b + 0.03 for b in BASELINE], 16: [b + 0.01 for b in BASELINE],
                   None: BASELINE})
    lines = verdict_lines(clear, ["se_ratio"])
    # The logits of 0.93, 0.95, 0.97, 0.94, 0.96: mean 2.9874, sd 0.3512; half-width
    # t(0.975, 4) * 0.3512 / sqrt(5) = 0.4360; expit(2.5514), expit(3.4234).
    assert lines[-2] == "best by mean: r=8 (mean 95.0%, 95% CI 92.8 to 96.8, 5 seeds)"
    assert lines[-1] == ("r=8: +2.0 points over the runner-up r=16 (95% CI +2.0 to +2.0, "
                         "5 seeds): distinguishable from the runner-up")


def test_one_seed_draws_no_conclusion():
    lines = verdict_lines(_rows({8: [0.95], None: [0.90]}), ["se_ratio"])
    assert lines[0] == ("r=8: +5.0 points over no SE (1 seed): no interval from one seed "
                        "(search.repeats), no conclusion")


def test_a_loss_objective_gives_its_verdicts_in_its_own_direction():
    # SE lowers val_loss by 0.10 on every seed but one point of accuracy less:
    # on val_loss, the lower wins. Differences -0.10, -0.09, -0.11, -0.11, -0.09:
    # sd 0.01, half-width t(0.975, 4) * 0.01 / sqrt(5) = 0.012415.
    losses = {8: [0.50, 0.52, 0.48, 0.51, 0.49], None: [0.60, 0.61, 0.59, 0.62, 0.58]}
    rows = _rows({8: [b - 0.01 for b in BASELINE], None: BASELINE})
    for row in rows:
        for run, loss in zip(row["runs"], losses[row["se_ratio"]]):
            run["objective"] = loss
    lines = verdict_lines(rows, ["se_ratio"], "val_loss")
    half = T_975[4] * 0.01 / math.sqrt(5)
    assert lines[0] == (f"r=8: -0.1000 val_loss against no SE (95% CI {-0.1 - half:+.4f} to "
                        f"{-0.1 + half:+.4f}, 5 seeds): SE pays")
    assert lines[1].startswith("best by mean val_loss: r=8 ")
    assert lines[2].startswith("r=8: -0.1000 val_loss against the runner-up no SE")
    assert lines[2].endswith("distinguishable from the runner-up")
    # The same rows judged on accuracy: SE costs it.
    assert verdict_lines(rows, ["se_ratio"])[0].endswith("SE costs accuracy")
