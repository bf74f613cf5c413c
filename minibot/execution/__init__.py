"""minibot.execution: the paper executor (`ExecutionCore`)."""

from minibot.execution.core import ExecutionCore

__all__ = ["ExecutionCore"]
