"""`python -m minibot` runs the `nore` command."""

from minibot.cli import main

main()
