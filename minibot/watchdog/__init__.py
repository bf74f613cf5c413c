"""minibot.watchdog."""
