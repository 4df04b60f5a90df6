"""``GET /metrics``: Prometheus text through prometheus-client.

    lgtm575_deliveries_total{event, outcome}      this web process's deliveries (outcome: queued,
                                                  duplicate, bad_signature, too_large, ignored, ...)
    lgtm575_queue_depth{state}                    jobs queued and running, read from the queue
    lgtm575_reviews_total{outcome}                jobs done, failed, skipped, superseded (the queue)
    lgtm575_review_latency_seconds                delivery to review posted, for done jobs (the queue)
    lgtm575_model_loaded                          1 once this process's model is loaded

The queue's figures are read from the database at each scrape, so every web process shows the
work of every worker on every machine, and a restart loses no count.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from reviewer.app.queue import FINAL_STATES, RUNNING_STATES, Queue, QueueError

LOG = logging.getLogger("lgtm575.app.metrics")
disable_created_metrics()  # no *_created series: counts only


class QueueCollector(Collector):
    def __init__(self, stats: Callable[[], dict[str, Any]]) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Any]:
        try:
            stats = self.stats()
        except QueueError as err:
            LOG.error("metrics: %s", err)
            return
        states = stats["states"]
        depth = GaugeMetricFamily("lgtm575_queue_depth", "Jobs waiting or running, by state.", labels=["state"])
        for state in RUNNING_STATES:
            depth.add_metric([state], states.get(state, 0))
        yield depth
        done = CounterMetricFamily("lgtm575_reviews", "Jobs ended, by outcome.", labels=["outcome"])
        for state in FINAL_STATES:
            done.add_metric([state], states.get(state, 0))
        yield done
        buckets = [(repr(bound), count) for bound, count in stats["latency_buckets"]]
        buckets.append(("+Inf", stats["latency_count"]))
        yield HistogramMetricFamily("lgtm575_review_latency_seconds", "Seconds from the delivery to the review "
                                    "posted, for done jobs.", buckets=buckets, sum_value=stats["latency_sum"])


class Metrics:
    def __init__(self, queue: Queue) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter("lgtm575_deliveries", "Webhook deliveries by event and outcome.",
                                  ["event", "outcome"], registry=self.registry)
        self.model_loaded = Gauge("lgtm575_model_loaded", "1 once this process's model is loaded.",
                                  registry=self.registry)
        self.registry.register(QueueCollector(queue.stats))

    def render(self) -> bytes:
        return generate_latest(self.registry)
