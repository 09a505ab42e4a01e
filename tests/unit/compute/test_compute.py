"""The compute section's pure parts: address form, LocalCluster size, local sessions,
the progress channel and the recipe checks."""

from __future__ import annotations

import logging
import pickle
import textwrap
from pathlib import Path

import pytest
from recipe_builders import MINIMAL, write_recipe

from mlctl.compute.session import (
    EventChannel,
    LocalSession,
    _quiet,
    _socket_reason,
    open_session,
)
from mlctl.compute.settings import local_cluster_size, usable_cores
from mlctl.errors import ComputeError, ExitCode, RecipeError
from mlctl.recipe.forms import address_problem
from mlctl.recipe.loader import load_recipe
from mlctl.recipe.schema import Compute

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "address",
    [
        "tcp://127.0.0.1:8786",
        "tcp://scheduler.internal:1",
        "tls://10.0.0.5:65535",
        "tcp://[::1]:8786",
    ],
)
def test_scheduler_addresses_are_accepted(address: str) -> None:
    assert address_problem(address) is None


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1:8786",  # no scheme
        "http://127.0.0.1:8786",  # the dashboard, not the scheduler
        "tcp://127.0.0.1",  # no port
        "tcp://127.0.0.1:0",
        "tcp://127.0.0.1:99999",
        "tcp://127.0.0.1:port",
        "tcp://:8786",
        "tcp://127.0.0.1:8786/x",
        "tcp://user@127.0.0.1:8786",
        "",
    ],
)
def test_other_text_is_not_an_address(address: str) -> None:
    problem = address_problem(address)
    assert problem == (
        f"'{address}' is not a Dask scheduler address; expected tcp://host:port "
        "(or tls://host:port), e.g. tcp://10.0.0.5:8786"
    )


def test_local_cluster_size() -> None:
    assert local_cluster_size(None, None, 8) == (8, 1)  # one process per core
    assert local_cluster_size(None, 2, 8) == (4, 2)
    assert local_cluster_size(None, 4, 2) == (1, 4)  # never zero workers
    assert local_cluster_size(3, None, 8) == (3, 1)
    assert local_cluster_size(2, 2, 1) == (2, 2)  # explicit sizes win
    assert usable_cores() >= 1


def test_compute_error_has_its_own_exit_code() -> None:
    assert ComputeError("x").exit_code == ExitCode.COMPUTE_UNAVAILABLE == 6


def test_local_session_runs_here_and_starts_nothing() -> None:
    with open_session(Compute()) as session:
        assert isinstance(session, LocalSession)
        assert session.backend == "local" and session.cores >= 1
        data = [1, 2]
        assert session.share(data) is data
        assert session.call(sum, data) == 3
        assert session.info() is None


def test_event_channel_calls_the_handler_here_and_travels_without_it() -> None:
    got = []
    channel = EventChannel("topic", got.append)
    channel.put("a")
    assert got == ["a"]
    copy = pickle.loads(pickle.dumps(channel))
    assert copy.topic == "topic" and copy._handler is None
    copy.put("b")  # not on a Dask worker: dropped, never raised
    assert got == ["a"]

    def boom(message):
        raise RuntimeError(message)

    EventChannel("t", boom).put("x")  # a failing handler cannot fail a fold


def test_quiet_silences_distributed_and_restores_levels() -> None:
    logger = logging.getLogger("distributed.client.test")
    logger.setLevel(logging.INFO)
    parent = logging.getLogger("distributed")
    before = parent.level
    with _quiet(True):
        assert logger.level == logging.CRITICAL
        assert parent.level == logging.CRITICAL
    assert logger.level == logging.INFO and parent.level == before
    with _quiet(False):
        assert logger.level == logging.INFO


def test_socket_reasons() -> None:
    import socket

    assert _socket_reason(ConnectionRefusedError(111, "refused"), 3) == (
        "connection refused (nothing listens on that port)"
    )
    assert _socket_reason(TimeoutError(), 2.5) == "no answer within 2.5 s"
    assert _socket_reason(socket.gaierror(-2, "Name or service not known"), 1) == "unknown host"


def load(tmp_path: Path, compute: str, overrides: list[str] | None = None):
    path = write_recipe(tmp_path, MINIMAL + textwrap.dedent(compute))
    return load_recipe(path, overrides or [])


def test_compute_defaults_and_overrides(tmp_path: Path) -> None:
    c = load(tmp_path, "").recipe.compute
    assert (c.backend, c.address, c.n_workers, c.threads_per_worker) == ("local", None, None, None)
    assert c.connect_timeout == 10.0
    over = ["compute.backend=dask", "compute.address=tcp://127.0.0.1:8786"]
    c = load(tmp_path, "", over).recipe.compute
    assert (c.backend, c.address) == ("dask", "tcp://127.0.0.1:8786")


def test_compute_checks_name_both_fields_and_the_fix(tmp_path: Path) -> None:
    text = "compute:\n  address: 127.0.0.1:8786\n  n_workers: 2\n"
    with pytest.raises(RecipeError) as exc:
        load(tmp_path, text)
    rendered = [i.render().replace(f"{tmp_path}/", "…/") for i in exc.value.issues]
    assert rendered == [
        "compute.address (…/recipe.yaml:11): '127.0.0.1:8786' is not a Dask scheduler "
        "address; expected tcp://host:port (or tls://host:port), e.g. tcp://10.0.0.5:8786",
        "compute.address (…/recipe.yaml:11): is set but compute.backend is 'local', so the "
        "cluster would not be used; set compute.backend: dask, or remove compute.address",
        "compute.n_workers (…/recipe.yaml:12): sizes the LocalCluster mlctl starts, but "
        "compute.address (127.0.0.1:8786) names a running cluster with its own workers; "
        "remove one of the two",
    ]


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("compute:\n  backend: ray\n", "compute.backend"),
        ("compute:\n  n_workers: 0\n", "compute.n_workers"),
        ("compute:\n  connect_timeout: 0\n", "compute.connect_timeout"),
        ("compute:\n  workers: 2\n", "compute.workers"),
    ],
)
def test_compute_schema_errors(tmp_path: Path, text: str, path: str) -> None:
    with pytest.raises(RecipeError) as exc:
        load(tmp_path, text)
    assert [i.path for i in exc.value.issues] == [path]
