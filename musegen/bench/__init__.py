"""Benchmarks: timings against named baselines measured in the same run (they print, they
do not assert; the tests hold the correctness checks)."""
