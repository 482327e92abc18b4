"""Figures without pyplot: the app never selects a global matplotlib back end.

A `matplotlib.figure.Figure` made directly renders to PNG through the Agg
canvas that `savefig` attaches, whatever back end the user's process has.
"""

from matplotlib.figure import Figure


def new_figure(**kwargs):
    """A figure that `savefig` writes to a file and that needs no closing.

    Args:
        **kwargs: `matplotlib.figure.Figure` arguments (figsize, dpi...).

    Example:

    >>> fig = new_figure(figsize=(4, 3), dpi=100)
    >>> ax = fig.subplots()
    >>> fig.savefig("plot.png")
    """
    return Figure(**kwargs)
