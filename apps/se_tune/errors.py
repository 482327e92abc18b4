"""The app's exceptions, and which back-end errors mean out of memory."""


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


# The back ends' out-of-memory exceptions: TensorFlow's and PyTorch's have types of
# their own; JAX raises its generic runtime error with XLA's status code first.
OUT_OF_MEMORY_TYPES = ("ResourceExhaustedError", "OutOfMemoryError")


def is_out_of_memory(error):
    """Whether `error` is a back end running out of (device) memory."""
    if isinstance(error, MemoryError):
        return True
    if any(cls.__name__ in OUT_OF_MEMORY_TYPES for cls in type(error).__mro__):
        return True
    return type(error).__name__ == "XlaRuntimeError" and str(error).startswith(
        "RESOURCE_EXHAUSTED")
