"""Benchmarks: run one with `python -m bench.<name>`; never collected as tests."""
