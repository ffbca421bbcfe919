"""Who is calling: the admin token, agent tokens (Ed25519 JWTs, D7), and the resulting principal."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from roundtable.auth.files import read_or_create
from roundtable.auth.keyring import Keyring
from roundtable.auth.keys import SigningKey
from roundtable.errors import InvalidInput, PermissionDenied, Unauthenticated
from roundtable.ids import utcnow, uuid7
from roundtable.validation import check_name

AUDIENCE = "roundtable"
ISSUER = "roundtable"


@dataclass(frozen=True)
class RunScope:
    """What a run token (D7) confines its bearer to: one session tree, acting as one session."""

    root_id: str
    session_id: str
    run_id: str


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. Admins may act as any agent in any namespace.

    A run token adds `scope` (its session tree); a runner token sets `runner_id` and is valid
    only on that runner's own protocol routes (`/api/v1/runners/{id}/...`).
    """

    admin: bool
    agent: str | None = None
    namespace: str | None = None
    scope: RunScope | None = None
    runner_id: str | None = None

    def allowed_path(self, path: str) -> bool:
        """Runner tokens reach only their runner's routes; every other token any route."""
        if self.runner_id is None:
            return True
        own = f"/api/v1/runners/{self.runner_id}"
        return path == own or path.startswith(own + "/")

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
    def __init__(
        self,
        data_dir: Path,
        key: SigningKey,
        admin_token: str | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        self._key = key
        self.keyring = keyring
        self.admin_token = admin_token or load_admin_token(data_dir)

    @property
    def key(self) -> SigningKey:
        """The key new tokens are signed with (the keyring's current key, after a rotation)."""
        return self.keyring.current if self.keyring is not None else self._key

    def unknown_kid(self, token: str | None) -> str | None:
        """The key id a JWT names when no key we hold has it (the caller may reload the ring)."""
        if not token or self.keyring is None:
            return None
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            return None
        if not isinstance(kid, str) or kid in self.keyring.keys:
            return None
        return kid

    def _public_key(self, token: str) -> Ed25519PublicKey:
        """The registered key the token's header names (any instance's, current or retired)."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from None
        if self.keyring is None or kid is None:  # no kid: our current key or nothing
            return self.key.public
        if kid == self._key.kid:
            return self._key.public
        found = self.keyring.trusted(str(kid))
        if found is None:
            raise Unauthenticated(f"invalid token: unknown signing key {kid!r}")
        return found.public

    def mint(
        self, agent: str, namespace: str, ttl: timedelta, extra: dict[str, str] | None = None
    ) -> str:
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
            **(extra or {}),
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
                self._public_key(token),
                algorithms=["EdDSA"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from None
        namespace = str(claims["ns"])
        if claims.get("rtk") == "runner":
            return Principal(admin=False, namespace=namespace, runner_id=str(claims["rid"]))
        scope = None
        if claims.get("rtk") == "run":
            scope = RunScope(
                root_id=str(claims["root"]),
                session_id=str(claims["sid"]),
                run_id=str(claims["run"]),
            )
        return Principal(admin=False, agent=str(claims["sub"]), namespace=namespace, scope=scope)

    def mint_run(self, agent: str, namespace: str, scope: RunScope, ttl: timedelta) -> str:
        """A run token (D7): acts as `agent`, confined to `scope`'s session tree."""
        extra = {"rtk": "run", "root": scope.root_id, "sid": scope.session_id, "run": scope.run_id}
        return self.mint(agent, namespace, ttl, extra)

    def mint_runner(self, runner_id: str, namespace: str, ttl: timedelta) -> str:
        """A runner token: valid only on `/api/v1/runners/{runner_id}/...`."""
        return self.mint("runner", namespace, ttl, {"rtk": "runner", "rid": runner_id})


def admin_token_path(data_dir: Path) -> Path:
    return data_dir / "admin.token"


def load_admin_token(data_dir: Path) -> str:
    """The admin token, generated on first use into DATA_DIR/admin.token (mode 0600)."""
    raw = read_or_create(
        admin_token_path(data_dir), lambda: ("rt_admin_" + secrets.token_urlsafe(32)).encode()
    )
    return raw.decode().strip()
