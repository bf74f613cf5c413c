"""minibot.config."""
