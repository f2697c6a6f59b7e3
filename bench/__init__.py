"""Benchmarks: timing and memory figures the test suite does not assert (see README.md)."""
