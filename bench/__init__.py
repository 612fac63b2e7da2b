"""Benchmarks (`make bench`): throughput and latency figures, never assertions."""
