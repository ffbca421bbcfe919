"""Security tests reuse the CLI fixture (the real CLI against a live server)."""

from tests.cli.conftest import cli

__all__ = ["cli"]
