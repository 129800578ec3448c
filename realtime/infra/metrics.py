"""What one server process counts and times, for Prometheus (`GET /metrics`, text format).

Each app has its own registry: every process is scraped on its own (README, "Scaling out"), and tests
create many apps in one process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Update → prediction latency: a few ms when idle, tens under load; the page feels live below ~100 ms.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.5)
ROUND_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    """The process's counters, gauges and histograms, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge("realtime_connections", "Open live (Socket.IO) connections", registry=r)
        self.messages = Counter(
            "realtime_messages",
            "Live messages received, by event (refused ones included)",
            ["event"],
            registry=r,
        )
        self.predictions = Counter("realtime_predictions", "Predictions sent to live clients", registry=r)
        self.coalesced = Counter(
            "realtime_coalesced_updates",
            "Drawing updates folded into a later prediction instead of being predicted on their own",
            registry=r,
        )
        self.latency = Histogram(
            "realtime_update_to_prediction_seconds",
            "From receiving an update to sending the prediction that covers it",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rounds = Histogram(
            "realtime_live_round_seconds",
            "Duration of one live round (rasterize, classify and send for every changed drawing)",
            buckets=ROUND_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "realtime_errors", "`error` events sent to live clients, by code", ["code"], registry=r
        )
        self.model = Gauge(
            "realtime_model_info", "The model being served (always 1)", ["name", "version"], registry=r
        )

        self.collected = Counter(
            "realtime_collected_drawings", "Drawings written to the database (COLLECT_DRAWINGS)", registry=r
        )
        self.collect_dropped = Counter(
            "realtime_collected_drawings_dropped",
            "Drawings not kept because the buffer waiting for the database was full",
            registry=r,
        )
        self.collect_buffered = Gauge(
            "realtime_collected_drawings_buffered",
            "Drawings waiting to be written to the database",
            registry=r,
        )

    def serving(self, name: str, version: str) -> None:
        """Record which model is served."""
        self.model.clear()
        self.model.labels(name=name, version=version).set(1)

    def exposition(self) -> bytes:
        """Return every metric in Prometheus' text format."""
        return generate_latest(self.registry)
