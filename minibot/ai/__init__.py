"""minibot.ai."""
