"""Benchmark of the hot paths against a framework-free floor: ``python -m bench``."""
