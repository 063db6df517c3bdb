"""Benchmarks: `python -m tracos_integration_tests.benchmarks --n N [--json PATH]`."""
