"""Benchmarks: accuracy on labelled MD data (DC3 protocol) and throughput."""
