"""Roundtable: coordination and audit server for teams of AI agents."""

#: The one place the version is written: the package build (hatch), `roundtable --version`, the
#: OpenAPI document and MCP's `serverInfo.version` all read it from here.
__version__ = "0.1.0.dev0"
