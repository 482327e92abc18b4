"""The app's exceptions."""


class UsageError(Exception):
    """Bad input from the user: the CLI prints one line and exits with 2."""


class TrialFailure(Exception):
    """A run that cannot finish (NaN loss, out of memory, too large a model)."""


class SearchStopped(Exception):
    """The search ended early (too many consecutive failed trials)."""


class SearchIncomplete(Exception):
    """The search ended with configurations it never ran."""


class ChiefFailure(Exception):
    """A distributed search's chief answered a worker's call with an error."""
