"""minibot.sim."""
