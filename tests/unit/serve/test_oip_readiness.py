"""OIP model readiness (the route clients poll before inference): 200 only while the
version answers; 503 while loading or draining, 404 for what is not served."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.unit


class State:
    """The few parts of a ServeState the readiness routes read."""

    def __init__(self, champion: int | None, challenger: int | None = None, **detail) -> None:
        slot = lambda v: SimpleNamespace(model=SimpleNamespace(version=v))  # noqa: E731
        self.model_name = "churn"
        self.champion = slot(champion) if champion is not None else None
        self.challenger = slot(challenger) if challenger is not None else None
        self.loading = self.champion is None
        self.load_error = None
        self.detail = {"draining": False, "log_writable": True, "model_loaded": bool(champion)}
        self.detail.update(detail)
        self.draining = self.detail["draining"]

    def ready(self):
        ok = self.detail["model_loaded"] and not self.draining and self.detail["log_writable"]
        return ok, self.detail


def statuses(state: State) -> dict[str, tuple[int, str | None]]:
    from litestar import Litestar
    from litestar.di import Provide
    from litestar.testing import TestClient

    from mlctl.serve.controllers.oip_v2 import OpenInferenceV2
    from mlctl.serve.responses import ApiError, api_error

    app = Litestar(
        route_handlers=[OpenInferenceV2],
        dependencies={"serve": Provide(lambda: state, sync_to_thread=False)},
        exception_handlers={ApiError: api_error},
    )
    paths = [
        "/v2/models/churn/ready",
        "/v2/models/churn/versions/3/ready",
        "/v2/models/churn/versions/4/ready",
        "/v2/models/churn/versions/9/ready",
        "/v2/models/other/ready",
    ]
    with TestClient(app) as client:
        answers = {p: client.get(p) for p in paths}
    return {p: (r.status_code, r.headers.get("retry-after")) for p, r in answers.items()}


def test_served_versions_are_ready_and_others_not_found() -> None:
    got = statuses(State(3, challenger=4))
    assert got == {
        "/v2/models/churn/ready": (200, None),
        "/v2/models/churn/versions/3/ready": (200, None),
        "/v2/models/churn/versions/4/ready": (200, None),
        "/v2/models/churn/versions/9/ready": (404, None),
        "/v2/models/other/ready": (404, None),
    }


@pytest.mark.parametrize(
    "state",
    [State(None), State(3, challenger=4, draining=True)],
    ids=["loading", "draining"],
)
def test_not_ready_while_loading_or_draining(state) -> None:
    got = statuses(state)
    for path in ("/v2/models/churn/ready", "/v2/models/churn/versions/3/ready"):
        assert got[path] == (503, "2"), (path, got)
    assert got["/v2/models/other/ready"] == (404, None)
