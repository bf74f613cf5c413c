"""minibot.strategies."""
