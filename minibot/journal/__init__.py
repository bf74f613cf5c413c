"""minibot.journal."""
