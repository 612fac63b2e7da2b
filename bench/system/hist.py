"""Latency histograms of the system benchmark: HdrHistograms in microseconds, merged across load processes."""

from collections.abc import Iterable, Mapping
from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 120_000_000
DIGITS = 3
PERCENTILES = (50.0, 90.0, 99.0, 99.9)

# The latencies the load generator records (milliseconds in reports, microseconds inside).
METRICS = ("frame_to_speech_started", "turn_overhead_raw", "barge_in", "spoken_barge_in", "loadgen_lag")


def new() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


class Histograms:
    """One histogram per metric name; values recorded in seconds, stored in microseconds."""

    def __init__(self, names: Iterable[str] = METRICS) -> None:
        self.by_name: dict[str, HdrHistogram] = {name: new() for name in names}

    def record(self, name: str, seconds: float) -> None:
        self.by_name[name].record_value(max(LOWEST_US, min(HIGHEST_US, round(seconds * 1e6))))

    def encode(self) -> dict[str, bytes]:
        return {name: histogram.encode() for name, histogram in self.by_name.items()}

    def add_encoded(self, encoded: Mapping[str, bytes]) -> None:
        for name, payload in encoded.items():
            self.by_name.setdefault(name, new()).decode_and_add(payload)

    def summary(self, name: str, shift_ms: float = 0.0) -> dict[str, Any]:
        """Count, mean and percentiles in ms (minus `shift_ms`, e.g. the agent's own time); None when empty."""
        histogram = self.by_name[name]
        count = histogram.get_total_count()
        out: dict[str, Any] = {"count": count}
        if not count:
            return {**out, "mean_ms": None, "max_ms": None, **{_key(p): None for p in PERCENTILES}}
        out["mean_ms"] = round(histogram.get_mean_value() / 1000 - shift_ms, 2)
        for percentile in PERCENTILES:
            out[_key(percentile)] = round(histogram.get_value_at_percentile(percentile) / 1000 - shift_ms, 2)
        out["max_ms"] = round(histogram.get_max_value() / 1000 - shift_ms, 2)
        return out


def _key(percentile: float) -> str:
    return f"p{percentile:g}_ms".replace(".", "_")
