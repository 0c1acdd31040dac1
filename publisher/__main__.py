"""`python -m publisher` runs the CLI."""

from publisher.cli import main

main()
