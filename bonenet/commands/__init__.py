"""Subcommands of the ``bonenet`` CLI, one module each (see :mod:`bonenet.cli`)."""
