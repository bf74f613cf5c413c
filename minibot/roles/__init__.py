"""Thin role runners: the only place a pure core meets files (queues, logs, snapshots)."""
