"""The paper's excitation analysis: mean SE gates per class at every SE layer."""

import csv
import os

import numpy as np

import keras_se
from se_tune.errors import UsageError
from se_tune.plotting import new_figure
from se_tune.files import load_saved_model


def class_gate_means(model, x, y, classes, images_per_class):
    """Mean gate per channel of every SE layer, for each class and over all.

    Returns:
        `{layer: {"per_class": (len(classes), C) array, "all": (C,) array}}`,
        where "all" averages the same images of every listed class.
    """
    chosen = []
    for cls in classes:
        idx = np.flatnonzero(y == cls)[:images_per_class]
        if not len(idx):
            raise UsageError(f"inspect: no image of class {cls} in the chosen split")
        chosen.append(idx)
    images = np.asarray(x[np.concatenate(chosen)])  # decodes image files
    gates = keras_se.utils.gate_values(model, images)
    bounds = np.cumsum([0] + [len(i) for i in chosen])
    result = {}
    for name, values in gates.items():
        per_class = np.stack([values[a:b].mean(axis=0) for a, b in zip(bounds, bounds[1:])])
        result[name] = {"per_class": per_class, "all": values.mean(axis=0)}
    return result


def class_specificity(per_class):
    """Over channels, the mean of the standard deviation across classes of the
    mean gate: 0 when every class gets the same gates."""
    return float(np.std(per_class, axis=0).mean())


def plot_layer(name, means, classes, path):
    fig = new_figure(figsize=(6, 2.6), dpi=100)
    ax = fig.subplots()
    _draw(ax, name, means, classes)
    ax.legend(fontsize=7, ncol=min(6, len(classes) + 1), loc="lower right")
    fig.tight_layout()
    fig.savefig(path)


def _draw(ax, name, means, classes):
    channels = np.arange(means["all"].shape[0])
    for cls, row in zip(classes, means["per_class"]):
        ax.plot(channels, row, lw=0.9, label=f"class {cls}")
    ax.plot(channels, means["all"], color="black", lw=1.2, ls="--", label="all")
    ax.set_title(name, fontsize=9)
    ax.set_xlabel("channel index", fontsize=8)
    ax.set_ylabel("mean gate", fontsize=8)
    ax.set_ylim(0, 1)


def plot_grid(gate_means, classes, path):
    names = list(gate_means)
    cols = 3
    rows = -(-len(names) // cols)
    fig = new_figure(figsize=(4.2 * cols, 2.4 * rows), dpi=80)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, name in zip(axes.flat, names):
        _draw(ax, name, gate_means[name], classes)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path)


def inspect_model(model_path, splits, config, seed=0, tb_dir=None):
    """Writes per-layer figures, a grid, TensorBoard images (in `tb_dir`, by
    default the output folder's `tb`) and the table; returns the table rows
    `[(layer, channels, specificity), ...]` and the output folder."""
    from PIL import Image
    from tensorboardX import SummaryWriter

    model = load_saved_model(model_path)
    if not keras_se.utils.se_layers(model):
        raise UsageError(f"the model has no layer with per-channel gates (SE, ESE, ECA, CBAM, global GE) to inspect: {model_path}")
    x, y = (splits.x_test, splits.y_test) if config.split == "test" else (
        splits.x_val, splits.y_val)
    if len(x) == 0:
        raise UsageError(f"inspect: the {config.split} split is empty")
    classes = config.classes or sorted(set(int(c) for c in y))[:5]
    means = class_gate_means(model, x, y, classes, config.images_per_class)
    out = config.output_dir or os.path.join(os.path.dirname(os.path.abspath(model_path)),
                                             "inspect")
    os.makedirs(out, exist_ok=True)
    rows = []
    writer = SummaryWriter(logdir=tb_dir or os.path.join(out, "tb"))
    for step, (name, layer_means) in enumerate(means.items()):
        path = os.path.join(out, f"{name}.png")
        plot_layer(name, layer_means, classes, path)
        with Image.open(path) as im:
            writer.add_image(f"gates/{name}", np.asarray(im.convert("RGB")), 0,
                             dataformats="HWC")
        rows.append((name, layer_means["all"].shape[0],
                     class_specificity(layer_means["per_class"])))
    grid = os.path.join(out, "gates_grid.png")
    plot_grid(means, classes, grid)
    with Image.open(grid) as im:
        writer.add_image("gates/all_layers", np.asarray(im.convert("RGB")), 0,
                         dataformats="HWC")
    writer.close()
    with open(os.path.join(out, "class_specificity.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["layer", "channels", "class_specificity"])
        w.writerows(rows)
    np.savez(os.path.join(out, "gate_means.npz"),
             **{f"{n}/per_class": m["per_class"] for n, m in means.items()},
             **{f"{n}/all": m["all"] for n, m in means.items()}, classes=np.array(classes))
    return rows, out


def format_table(rows):
    lines = ["| layer | channels | class specificity |", "| --- | --- | --- |"]
    lines += [f"| {n} | {c} | {s:.4f} |" for n, c, s in rows]
    return "\n".join(lines) + "\n"
