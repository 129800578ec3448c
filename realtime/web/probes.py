"""The probes of a balancer and of monitoring: `/healthz` (alive), `/readyz` (ready to serve), `/metrics`."""

from __future__ import annotations

import time

from flask import Blueprint, Response, jsonify

from realtime.infra.metrics import CONTENT_TYPE
from realtime.model.ranking import classes
from realtime.web.state import app_state

bp = Blueprint("probes", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Report that the model is loaded, which one, and for how long the server has been up."""
    state = app_state()
    return jsonify(
        status="ok",
        model=state.model.name,
        version=state.model.version,
        labels=classes(state.model),
        uptime_s=round(time.monotonic() - state.started, 3),
        node=state.config.NODE_NAME,
        connections=len(state.live),
    )


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Report whether this process can serve: its model loaded, its message queue's Redis reachable."""
    state = app_state()
    redis = state.redis_reachable()
    draining = state.live.draining
    ready = redis is not False and not draining
    body = jsonify(
        ready=ready,
        draining=draining,
        node=state.config.NODE_NAME,
        model=state.model.version,
        redis={None: "not configured", True: "ok", False: "unreachable"}[redis],
    )
    return body, 200 if ready else 503


@bp.get("/metrics")
def metrics() -> Response:
    """Expose this process's metrics in Prometheus' text format."""
    return Response(app_state().metrics.exposition(), content_type=CONTENT_TYPE)
