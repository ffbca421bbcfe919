"""Roundtable: coordination and audit server for teams of AI agents."""

__version__ = "0.1.0"
