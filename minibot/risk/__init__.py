"""minibot.risk."""
