"""minibot.execution: the paper executor (`ExecutionCore`)."""

from minibot.execution.core import ExecutionCore, acts_at

__all__ = ["ExecutionCore", "acts_at"]
