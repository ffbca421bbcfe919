"""Operability tests reuse the API tests' `serve` fixture (a tuned in-thread server)."""

from tests.api.conftest import serve

__all__ = ["serve"]
