"""Tests of the MCP server through the official MCP client, over stdio and Streamable HTTP."""
