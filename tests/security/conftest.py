"""Security tests reuse the CLI fixture (the real CLI against a live server) and `serve`."""

from tests.api.conftest import serve
from tests.cli.conftest import cli

__all__ = ["cli", "serve"]
