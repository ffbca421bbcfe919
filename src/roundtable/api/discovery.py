"""OAuth 2.0 Protected Resource Metadata (RFC 9728) for the MCP endpoint.

MCP clients that meet a 401 follow the MCP authorization spec: they read the
`resource_metadata` URL from `WWW-Authenticate` (or try the well-known URLs) to learn how to get
a token. Roundtable issues its own bearer tokens (`roundtable token create`, or
`POST /api/v1/namespaces/{ns}/tokens`) and runs no OAuth authorization server, so the metadata
names the resource, how to send the token, and the keys that sign it, and lists no
`authorization_servers`: a client learns that OAuth is not offered and that a static bearer
token must be configured (docs/mcp.md shows how for each client).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

router = APIRouter(tags=["meta"])

WELL_KNOWN = "/.well-known/oauth-protected-resource"
HOW_TO_GET_A_TOKEN = (
    "Roundtable issues static bearer tokens: an admin runs `roundtable token create --agent "
    "NAME` (or POST /api/v1/namespaces/{namespace}/tokens); send it as "
    "`Authorization: Bearer TOKEN`. No OAuth authorization server is offered."
)


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def mcp_metadata_url(base: str) -> str:
    """Where a client finds the metadata of `BASE/mcp` (RFC 9728 section 3.1)."""
    return f"{base}{WELL_KNOWN}/mcp"


def www_authenticate(base: str) -> str:
    """The challenge of a 401 from `/mcp`, pointing to the metadata (RFC 9728 section 5.1)."""
    return f'Bearer realm="roundtable", resource_metadata="{mcp_metadata_url(base)}"'


def metadata(base: str, resource: str) -> dict[str, Any]:
    return {
        "resource": resource,
        "resource_name": "Roundtable",
        "bearer_methods_supported": ["header"],
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "resource_signing_alg_values_supported": ["EdDSA"],
        "resource_documentation": f"{base}/docs",
        "roundtable_token_instructions": HOW_TO_GET_A_TOKEN,
    }


@router.get(WELL_KNOWN)
async def protected_resource(request: Request) -> dict[str, Any]:
    """Metadata of the whole server (the API and `/mcp`): how to authenticate."""
    base = base_url(request)
    return metadata(base, base)


@router.get(f"{WELL_KNOWN}/mcp")
async def protected_mcp_resource(request: Request) -> dict[str, Any]:
    """Metadata of the MCP endpoint, named by `WWW-Authenticate` on its 401 answers."""
    base = base_url(request)
    return metadata(base, f"{base}/mcp")
