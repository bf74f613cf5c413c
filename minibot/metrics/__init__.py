"""minibot.metrics."""
