"""Who is calling: the admin token, agent tokens (Ed25519 JWTs, D7), and the resulting principal."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt

from roundtable.auth.files import read_or_create
from roundtable.auth.keys import SigningKey
from roundtable.errors import InvalidInput, PermissionDenied, Unauthenticated
from roundtable.ids import utcnow, uuid7
from roundtable.validation import check_name

AUDIENCE = "roundtable"
ISSUER = "roundtable"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. Admins may act as any agent in any namespace."""

    admin: bool
    agent: str | None = None
    namespace: str | None = None

    def namespace_for(self, requested: str | None, default: str) -> str:
        """The namespace to act in; an agent token is bound to its own."""
        if self.admin:
            return check_name("namespace", requested or default)
        assert self.namespace is not None
        if requested is not None and requested != self.namespace:
            raise PermissionDenied(
                f"this token is for namespace {self.namespace!r}, not {requested!r}",
                namespace=requested,
            )
        return self.namespace

    def agent_for(self, requested: str | None) -> str:
        """The agent to act as: the token's own, or for an admin the one it names."""
        if self.admin:
            if requested is None:
                raise InvalidInput("name the agent to act as (admin token)", field="agent")
            return check_name("agent", requested)
        assert self.agent is not None
        if requested is not None and requested != self.agent:
            raise PermissionDenied(
                f"this token identifies agent {self.agent!r}, not {requested!r}", agent=requested
            )
        return self.agent


ADMIN = Principal(admin=True)


class TokenService:
    def __init__(self, data_dir: Path, key: SigningKey, admin_token: str | None = None) -> None:
        self.key = key
        self.admin_token = admin_token or load_admin_token(data_dir)

    def mint(self, agent: str, namespace: str, ttl: timedelta) -> str:
        check_name("agent", agent)
        check_name("namespace", namespace)
        if ttl.total_seconds() <= 0:
            raise InvalidInput("token ttl must be positive", field="ttl")
        now = utcnow()
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": agent,
            "ns": namespace,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": uuid7(),
        }
        return jwt.encode(
            claims, self.key.private, algorithm="EdDSA", headers={"kid": self.key.kid}
        )

    def authenticate(self, token: str | None) -> Principal:
        """Resolve a bearer token to a principal, or raise `Unauthenticated` saying why."""
        if not token:
            raise Unauthenticated("missing bearer token")
        if hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return ADMIN
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key.public,
                algorithms=["EdDSA"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from None
        return Principal(admin=False, agent=str(claims["sub"]), namespace=str(claims["ns"]))


def admin_token_path(data_dir: Path) -> Path:
    return data_dir / "admin.token"


def load_admin_token(data_dir: Path) -> str:
    """The admin token, generated on first use into DATA_DIR/admin.token (mode 0600)."""
    raw = read_or_create(
        admin_token_path(data_dir), lambda: ("rt_admin_" + secrets.token_urlsafe(32)).encode()
    )
    return raw.decode().strip()
