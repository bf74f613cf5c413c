"""Acceptance gates R-Q1..R-Q4, runnable as `nore gates` and as tests."""
