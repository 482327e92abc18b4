"""A search run's config cannot change under it.

A resumed search whose resolved config differs from the one saved in its run
folder (`config.yaml`) in anything that changes results is refused before
anything is written, as Lightning's `SaveConfigCallback` refuses to overwrite a
run's config: the results table would no longer match the config beside it.

Allowed on resume: more values in the search space (only the new
configurations run), more `search.repeats` (only the new seeds run),
`search.max_trials`, the distributed role and ids, the
inspection, and what only changes what is printed.
"""

import json
import os

import yaml

from se_tune.errors import UsageError

#: Keys whose change leaves every trial's result as it was.
ALLOWED_CHANGES = {
    "fresh", "search.fresh", "search.max_trials", "search.max_consecutive_failures",
    "search.role", "search.oracle_ip", "search.oracle_port", "search.tuner_id",
    "search.chief_timeout", "search.inspect", "train.verbose",
}
#: Sections whose every key is allowed to change.
ALLOWED_SECTIONS = ("inspect.",)
SPACE = "search.space"
REPEATS = "search.repeats"


def check_resumed_config(run_dir, config_text):
    """Refuses (`UsageError`, one line naming each differing key) a search in
    `run_dir` whose trials began under another config.

    Args:
        run_dir: the search's run folder.
        config_text: the resolved config, as the YAML `config.yaml` would hold.

    Example:

    >>> check_resumed_config("runs/search", parser.dump(cfg))  # the same config: no error
    """
    saved_path = os.path.join(run_dir, "config.yaml")
    if not (os.path.isfile(saved_path) and _has_trials(run_dir)):
        return
    with open(saved_path) as f:
        saved = _flat(yaml.safe_load(f) or {})
    given = _flat(yaml.safe_load(config_text) or {})
    changes = []
    for key in sorted(set(saved) | set(given)):
        before, after = saved.get(key), given.get(key)
        if before == after or key in ALLOWED_CHANGES or key.startswith(ALLOWED_SECTIONS):
            continue
        if key == SPACE and _extends(before, after):
            continue
        if key == REPEATS and isinstance(before, int) and isinstance(after, int) \
                and after > before:
            continue  # only the new seeds run
        changes.append(f"{key}={_text(after)} (the run has {_text(before)})")
    if changes:
        raise UsageError(
            f"{run_dir} holds a search run under another config: {'; '.join(changes)}. "
            "Its results would no longer match its config: use another --run_dir, or "
            "--fresh to start over")


def _has_trials(run_dir):
    trials = os.path.join(run_dir, "trials")
    return os.path.isdir(trials) and bool(os.listdir(trials))


def _flat(tree, prefix=""):
    """`section.key` -> value; the search space stays one value."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name != SPACE and prefix == "":
            flat.update(_flat(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _extends(before, after):
    """Whether space `after` holds every key of `before`, with the same
    conditions and at least its values."""
    if not isinstance(before, dict) or not isinstance(after, dict) or set(before) != set(after):
        return False
    for key, old in before.items():
        new = after[key]
        old_values, new_values = _values(old), _values(new)
        if _when(old) != _when(new) or not all(v in new_values for v in old_values):
            return False
    return True


def _values(entry):
    return entry.get("values", []) if isinstance(entry, dict) else list(entry or [])


def _when(entry):
    return entry.get("when") if isinstance(entry, dict) else None


def _text(value):
    return "null" if value is None else json.dumps(value) if isinstance(
        value, (dict, list)) else str(value)
