"""Command-line commands (see ``python -m server --help``)."""
