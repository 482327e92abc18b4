"""The search's objective and its direction: which way is better."""

# keras-tuner's and Keras' rule: a loss (or an error) is minimized, any other
# metric maximized.
MINIMIZED = ("loss", "error")


def objective_direction(name):
    """"min" or "max": how `name`, a metric of the training's history, improves.

    Args:
        name: a metric name, as Keras logs it (`val_accuracy`, `val_loss`).

    Example:

    >>> objective_direction("val_loss"), objective_direction("val_accuracy")
    ('min', 'max')
    """
    metric = name.removeprefix("val_")
    return "min" if metric.endswith(MINIMIZED) else "max"


def best_value(values, direction):
    """The best of `values` (NaNs left out; NaN when all are) in `direction`.

    Example:

    >>> best_value([0.5, 0.3, float("nan")], "min")
    0.3
    """
    finite = [float(v) for v in values if v == v]
    if not finite:
        return float("nan")
    return min(finite) if direction == "min" else max(finite)
