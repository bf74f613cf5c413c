"""minibot.contracts."""
