"""A search's reports: the results table, every seed's run, the verdicts against
the network without SE (or without attention), and the accuracy/latency frontier
(tables and plots).

A row is one trial (a configuration trained on `search.repeats` seeds, as
keras-tuner's `executions_per_trial`); its `runs` hold each seed's results.
"""

import csv
import io
import json
import os

from se_tune.files import atomic_write_text
from se_tune.objective import objective_direction
from se_tune.plotting import new_figure
from se_tune.statistics import mean_interval, paired_difference, verdict

RESULT_COLUMNS = ("trial", "status", "params", "macs", "best_val_accuracy", "sd", "ci95_low",
                  "ci95_high", "seeds", "latency_1_ms", "latency_batch_ms", "epochs",
                  "seconds_per_epoch", "images_per_second", "reason")
RUN_COLUMNS = ("seed", "best_val_accuracy", "objective", "latency_1_ms", "latency_batch_ms",
               "epochs")


def write_results(rows, run_dir, space_keys):
    """Writes results.csv, results.md (one row per trial) and runs.csv (one row
    per seed); returns the Markdown table."""
    columns = ["trial", *space_keys, *RESULT_COLUMNS[2:], "status"]
    _write_csv(os.path.join(run_dir, "results.csv"), columns, rows)
    runs = [{"trial": row["trial"], **{k: row.get(k) for k in space_keys}, **run}
            for row in rows for run in row.get("runs", [])]
    _write_csv(os.path.join(run_dir, "runs.csv"), ["trial", *space_keys, *RUN_COLUMNS], runs)
    table = _markdown(columns, rows)
    atomic_write_text(os.path.join(run_dir, "results.md"), table)
    return table


def _write_csv(path, columns, rows):
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _csv_value(row.get(c)) for c in columns})
    atomic_write_text(path, text.getvalue())


def _markdown(columns, rows):
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(c, row.get(c)) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def _csv_value(value):
    # "none" is a value (no SE, no limit); a missing reason is "" already.
    if value is None:
        return "none"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value


def _cell(column, value):
    if value is None:
        return "" if column in ("sd", "ci95_low", "ci95_high") else "none"
    if isinstance(value, float):
        if value >= 1e5:
            return f"{value:.3g}"
        return f"{value:.4f}" if value < 10 else f"{value:.1f}"
    if isinstance(value, int) and value >= 1e5:
        return f"{value / 1e6:.3f}M"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def configurations(rows, space_keys):
    """The finished configurations: `(label, values, row)` for each, where a
    configuration that Hyperband trained several times counts by its longest
    training. Rows without runs (failed trials) are left out."""
    chosen = {}
    for row in rows:
        if row.get("status") != "COMPLETED" or not row.get("runs"):
            continue
        values = {k: row.get(k) for k in space_keys}
        key = json.dumps(values, sort_keys=True)
        if key not in chosen or (row.get("epochs") or 0) > (chosen[key][2].get("epochs") or 0):
            chosen[key] = (label(values), values, row)
    return list(chosen.values())


#: The keys whose None is the network without an attention block, and its name.
BASELINES = {"se_ratio": "no SE", "attention": "no attention"}


def label(values):
    """A configuration's name: `r=8`, `no SE`, `eca`, `no attention`, with the
    other keys after it.

    Example:

    >>> label({"se_ratio": None, "learning_rate": 0.1})
    'no SE, learning_rate=0.1'
    >>> label({"attention": "eca"})
    'eca'
    """
    parts = []
    for key, value in values.items():
        if key == "se_ratio":
            parts.append("no SE" if value is None else f"r={_plain(value)}")
        elif key == "attention":
            parts.append("no attention" if value is None else _plain(value))
        else:
            parts.append(f"{key}={'none' if value is None else _plain(value)}")
    return ", ".join(parts)


def _plain(value):
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def run_objective(run):
    """A seed's best objective value (its best val_accuracy in a run folder
    written before the objective was kept)."""
    return run.get("objective", run["best_val_accuracy"])


def ranked(rows, objective, row_of=lambda item: item):
    """`rows` (or items that `row_of` maps to a row), best first by their mean
    objective over the seeds, in the objective's direction.

    Example:

    >>> [r["trial"] for r in ranked(rows, "val_loss")]
    ['0002', '0000', '0001']
    """
    sign = -1 if objective_direction(objective) == "max" else 1
    return sorted(rows, key=lambda item: sign * sum(
        run_objective(run) for run in row_of(item)["runs"]) / len(row_of(item)["runs"]))


def _accuracies(row):
    return {run["seed"]: run["best_val_accuracy"] for run in row["runs"]}


def accuracy_interval(row):
    """A trial's mean best validation accuracy over its seeds, with its
    interval, inside [0, 1] (an accuracy's step is one validation image)."""
    images = row.get("val_images")
    return mean_interval(_accuracies(row).values(), bounds=(0, 1),
                         step=1 / images if images else None)


def verdict_lines(rows, space_keys, objective="val_accuracy"):
    """The search's answer, one sentence each: every SE configuration against
    the network without SE over the same seeds (with the same other values),
    every attention type against no attention block likewise, then the best
    configuration by its mean `objective` against the runner-up.

    Example:

    >>> print("\\n".join(verdict_lines(rows, ["se_ratio"])))
    r=8: +0.6 points over no SE (95% CI +0.1 to +1.1, 5 seeds): SE pays
    ...
    """
    found = configurations(rows, space_keys)
    lines = []
    # Accuracy in points; another objective as it is, in its own direction.
    on_accuracy = objective == "val_accuracy"
    per_seed = _accuracies if on_accuracy else (
        lambda row: {run["seed"]: run_objective(run) for run in row["runs"]})
    scale = {} if on_accuracy else {
        "metric": objective, "lower_is_better": objective_direction(objective) == "min"}
    for key in (k for k in BASELINES if k in space_keys):
        for name, values, row in found:
            if values[key] is None:
                continue
            baseline = [r for _, v, r in found if v == {**values, key: None}]
            if baseline:
                what = "SE" if key == "se_ratio" else values[key]
                lines.append(verdict(
                    name, paired_difference(per_seed(row), per_seed(baseline[0])),
                    against=BASELINES[key], gain=f"{what} pays",
                    loss=f"{what} costs accuracy" if on_accuracy else f"{what} is worse",
                    **scale))
    order = ranked(found, objective, row_of=lambda c: c[2])
    by = "" if on_accuracy else f" {objective}"
    if order:
        name, _, row = order[0]
        lines.append(f"best by mean{by}: {name} ({_interval_text(accuracy_interval(row))})")
    if len(order) > 1:
        (best, _, row), (second, _, other) = order[0], order[1]
        distinguishable = "distinguishable from the runner-up"
        lines.append(verdict(
            best, paired_difference(per_seed(row), per_seed(other)),
            against=f"the runner-up {second}", gain=distinguishable, loss=distinguishable,
            neither=f"not {distinguishable}", **scale))
    return lines


def _interval_text(interval):
    text = f"mean {interval.mean * 100:.1f}%"
    if interval.low is None:
        return f"{text}, 1 seed"
    return f"{text}, 95% CI {interval.low * 100:.1f} to {interval.high * 100:.1f}, {interval.n} seeds"


def frontier(rows, space_keys):
    """The configurations with their mean accuracy and batch-1 latency, and
    whether each is on the Pareto frontier (no other one is at least as
    accurate and at least as fast, and better in one)."""
    points = []
    for name, _, row in configurations(rows, space_keys):
        accuracy = accuracy_interval(row)
        latency = mean_interval([run["latency_1_ms"] for run in row["runs"]])
        points.append({"configuration": name, "accuracy": accuracy, "latency": latency,
                       "params": row.get("params"), "macs": row.get("macs")})
    for point in points:
        point["pareto"] = not any(
            other["accuracy"].mean >= point["accuracy"].mean
            and other["latency"].mean <= point["latency"].mean
            and (other["accuracy"].mean > point["accuracy"].mean
                 or other["latency"].mean < point["latency"].mean)
            for other in points)
    return sorted(points, key=lambda p: p["latency"].mean)


def write_frontier(rows, run_dir, space_keys):
    """Writes pareto.md and accuracy_vs_latency.png; returns the table."""
    points = frontier(rows, space_keys)
    lines = ["| configuration | accuracy mean | 95% CI | latency batch 1 (ms) | sd (ms) "
             "| params | MACs | Pareto |", "|" + " --- |" * 8]
    for p in points:
        acc, lat = p["accuracy"], p["latency"]
        ci = "" if acc.low is None else f"{acc.low:.4f} to {acc.high:.4f}"
        lines.append(f"| {p['configuration']} | {acc.mean:.4f} | {ci} | {lat.mean:.3f} | "
                     f"{lat.sd:.3f} | {_cell('params', p['params'])} | "
                     f"{_cell('macs', p['macs'])} | {'yes' if p['pareto'] else ''} |")
    table = "\n".join(lines) + "\n"
    atomic_write_text(os.path.join(run_dir, "pareto.md"), table)
    if points:
        _plot_frontier(points, os.path.join(run_dir, "accuracy_vs_latency.png"))
    return table


def _error_bar(intervals):
    """matplotlib's asymmetric error bars (below, above) of `intervals`: a
    bounded interval is not centred on its mean."""
    return [[0.0 if i.low is None else i.mean - i.low for i in intervals],
            [0.0 if i.low is None else i.high - i.mean for i in intervals]]


def _plot_frontier(points, path):
    fig = new_figure(figsize=(5.5, 3.6), dpi=100)
    ax = fig.subplots()
    for p in points:
        ax.errorbar(p["latency"].mean, p["accuracy"].mean, xerr=p["latency"].sd,
                    yerr=_error_bar([p["accuracy"]]), fmt="o" if p["pareto"] else "s",
                    color="C0" if p["pareto"] else "gray", capsize=3)
        ax.annotate(p["configuration"], (p["latency"].mean, p["accuracy"].mean),
                    textcoords="offset points", xytext=(4, 4), fontsize=7)
    best = [p for p in points if p["pareto"]]
    ax.plot([p["latency"].mean for p in best], [p["accuracy"].mean for p in best], "-",
            color="C0", alpha=0.5, label="Pareto frontier")
    _finish(fig, ax, path, "latency, batch 1 (ms; bars: sd over seeds)",
            "best val. accuracy (bars: 95% CI)", "accuracy against cost")


def plot_ratio(rows, path):
    """Accuracy against the reduction ratio: each ratio's mean with its 95%
    interval, the network without SE as a line and its interval as a band."""
    found = configurations(rows, [k for k in ("se_ratio",) if any(k in r for r in rows)])
    with_se = sorted(((v["se_ratio"], r) for _, v, r in found
                      if isinstance(v["se_ratio"], (int, float))), key=lambda p: p[0])
    fig = new_figure(figsize=(5, 3.2), dpi=100)
    ax = fig.subplots()
    if with_se:
        intervals = [accuracy_interval(r) for _, r in with_se]
        ax.errorbar([ratio for ratio, _ in with_se], [i.mean for i in intervals],
                    yerr=_error_bar(intervals), fmt="o-", capsize=3,
                    label="SE (bars: 95% CI)")
        ax.set_xscale("log", base=2)
    for _, values, row in found:
        if values["se_ratio"] is None:
            base = accuracy_interval(row)
            ax.axhline(base.mean, color="gray", ls="--", label="no SE")
            if base.low is not None:
                ax.axhspan(base.low, base.high, color="gray", alpha=0.2, label="no SE 95% CI")
            break
    _finish(fig, ax, path, "reduction ratio r", "best validation accuracy",
            "SE reduction ratio search")


def plot_configurations(rows, space_keys, path):
    """Every configuration's mean best validation accuracy with its 95%
    interval, best on top; the network without attention, when searched, is
    gray."""
    found = sorted(configurations(rows, space_keys),
                   key=lambda c: accuracy_interval(c[2]).mean)
    fig = new_figure(figsize=(5.5, 1.2 + 0.35 * max(1, len(found))), dpi=100)
    ax = fig.subplots()
    for y, (name, values, row) in enumerate(found):
        interval = accuracy_interval(row)
        plain = any(values.get(k, "") is None for k in BASELINES)
        ax.errorbar(interval.mean, y, xerr=_error_bar([interval]), fmt="o", capsize=3,
                    color="gray" if plain else "C0")
    ax.set_xlim(right=min(ax.get_xlim()[1], 1.0))
    ax.set_yticks(range(len(found)), [name for name, _, _ in found])
    ax.set_xlabel("best validation accuracy (mean over seeds; bars: 95% CI)")
    ax.set_title("configurations")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def _finish(fig, ax, path, xlabel, ylabel, title):
    ax.set_ylim(top=min(ax.get_ylim()[1], 1.0))  # the y axis is an accuracy
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
