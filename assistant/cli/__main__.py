"""`python -m assistant.cli` runs the `ask` command line."""

from assistant.cli import main

main()
