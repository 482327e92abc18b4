"""How many processes a search trains in, and the threads each gets
(`se_tune.local_workers`); the searches themselves are in test_reliability.py."""

import os

import pytest

pytest.importorskip("keras_tuner")

from se_tune.config import SearchConfig  # noqa: E402
from se_tune.local_workers import thread_environment, worker_count  # noqa: E402


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)


@pytest.mark.parametrize("tuner", ["grid", "random"])
def test_a_grid_or_random_search_on_two_cpu_cores_trains_two_trials_at_once(two_cores, tuner):
    assert worker_count(SearchConfig(tuner=tuner), 6, gpu=False, distribution="none") == 2


@pytest.mark.parametrize("search,trials,gpu,distribution", [
    (SearchConfig(tuner="bayesian"), 10, False, "none"),   # its next trial needs the last
    (SearchConfig(tuner="hyperband"), None, False, "none"),
    (SearchConfig(), 6, True, "none"),                      # one device
    (SearchConfig(), 6, False, "mirrored"),                 # a trial on every device
    (SearchConfig(), 1, False, "none"),                     # nothing to share
    (SearchConfig(role="worker"), 6, False, "none"),        # a worker already
])
def test_a_search_keeps_one_process_where_two_would_change_or_gain_nothing(
        two_cores, search, trials, gpu, distribution):
    assert worker_count(search, trials, gpu, distribution) == 1


def test_a_single_core_keeps_one_process(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert worker_count(SearchConfig(), 6, gpu=False, distribution="none") == 1


def test_the_user_s_count_wins(two_cores):
    assert worker_count(SearchConfig(workers=3, tuner="bayesian"), 10, True, "none") == 3
    assert worker_count(SearchConfig(workers=1), 6, False, "none") == 1


def test_each_worker_gets_its_share_of_the_cores(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        monkeypatch.delenv(name, raising=False)
    assert thread_environment(2) == {"OMP_NUM_THREADS": "2", "TF_NUM_INTRAOP_THREADS": "2"}
    assert thread_environment(3) == {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1"}
    assert thread_environment(1) == {}  # one process keeps the back end's own threads
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's setting stays
    assert thread_environment(2) == {"TF_NUM_INTRAOP_THREADS": "2"}
