"""minibot.execution."""
