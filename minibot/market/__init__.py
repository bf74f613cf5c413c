"""minibot.market."""
