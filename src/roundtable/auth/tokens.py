"""Who is calling: the admin token, agent tokens (Ed25519 JWTs, D7), and the resulting principal."""

from __future__ import annotations

import hmac
import math
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from roundtable.auth.files import read_or_create
from roundtable.auth.keyring import Keyring, anchors
from roundtable.auth.keys import SigningKey
from roundtable.errors import InvalidInput, PermissionDenied, Unauthenticated
from roundtable.ids import utcnow, uuid7
from roundtable.validation import check_name

AUDIENCE = "roundtable"
ISSUER = "roundtable"


#: Verified agent tokens remembered per process (oldest forgotten first); see `_Verified`.
VERIFIED_TOKENS_MAX = 4096


@dataclass(frozen=True, slots=True)
class _Verified:
    """What verifying a token found, so that the same token presented again (an agent sends its
    token with every call) skips the Ed25519 verification and JSON decoding (issue 16: ~0.2 ms,
    as much as the rest of a `set_project`). Everything the verification decided that does not
    depend on the time or on which keys are trusted is a function of the token's bytes; the rest
    is checked again on every use: the validity window (`iat`/`nbf` to `exp`, as PyJWT checks it)
    and that the key which verified the signature is still the one trusted under its key id."""

    principal: Principal
    kid: Any  # the header's `kid`, as `_public_key` reads it
    public_raw: bytes  # the key that verified the signature
    not_before: float  # max(iat, nbf) when present
    not_after: float  # exp

    def current(self, now: float) -> bool:
        return self.not_before <= now < self.not_after


#: A permission name: `area:action`, e.g. `documents:read`, `documents:write`, `journal:write`.
_PERM = re.compile(r"[a-z][a-z0-9_-]{0,31}:[a-z][a-z0-9_-]{0,31}")


def check_perms(perms: Iterable[str] | None) -> frozenset[str] | None:
    """A token's `perms` claim as a set (None: no such claim, every permission, as before)."""
    if perms is None:
        return None
    if isinstance(perms, str):
        raise InvalidInput("perms must be a list of names", field="perms")
    found = frozenset(perms)
    for perm in found:
        if not isinstance(perm, str) or not _PERM.fullmatch(perm):
            raise InvalidInput(
                f"invalid permission {perm!r}: use area:action, e.g. documents:read",
                field="perms",
            )
    return found


@dataclass(frozen=True)
class TokenScope:
    """A token's `scope` claim: what it may reach beyond its namespace (None = unrestricted).

    `root_session` bounds it to one session tree (run tokens); `projects` to named journals.
    """

    root_session: str | None = None
    projects: tuple[str, ...] | None = None

    @classmethod
    def from_claim(cls, claim: object) -> TokenScope:
        if claim is None:
            return cls()
        if not isinstance(claim, dict) or set(claim) - {"root_session", "projects"}:
            raise InvalidInput(
                "scope must be an object with root_session and/or projects", field="scope"
            )
        root = claim.get("root_session")
        projects = claim.get("projects")
        if root is not None and (not isinstance(root, str) or not 0 < len(root) <= 36):
            raise InvalidInput("scope.root_session must be a session id", field="scope")
        if projects is not None:
            if not isinstance(projects, list):
                raise InvalidInput("scope.projects must be a list of names", field="scope")
            projects = tuple(check_name("project", p) for p in projects)
        return cls(root_session=root, projects=projects)

    def claim(self) -> dict[str, object] | None:
        out: dict[str, object] = {}
        if self.root_session is not None:
            out["root_session"] = self.root_session
        if self.projects is not None:
            out["projects"] = list(self.projects)
        return out or None


@dataclass(frozen=True)
class RunScope:
    """What a run token (D7) confines its bearer to: one session tree, acting as one session."""

    root_id: str
    session_id: str
    run_id: str


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. Admins may act as any agent in any namespace.

    A run token adds `scope` (its session tree) and a runner token sets `runner_id`, valid only
    on that runner's own protocol routes (`/api/v1/runners/{id}/...`). `root_session`,
    `projects` and `perms` come from a token's `scope` and `perms` claims (a run token's tree is
    its `root_session` too); None means the claim is absent and the token is unrestricted there
    (tokens minted before these claims existed behave as they always did).
    """

    admin: bool
    agent: str | None = None
    namespace: str | None = None
    scope: RunScope | None = None
    runner_id: str | None = None
    root_session: str | None = None
    projects: tuple[str, ...] | None = None
    perms: frozenset[str] | None = None

    def allowed_path(self, path: str) -> bool:
        """Runner tokens reach only their runner's routes; every other token any route."""
        if self.runner_id is None:
            return True
        own = f"/api/v1/runners/{self.runner_id}"
        return path == own or path.startswith(own + "/")

    def may(self, perm: str) -> bool:
        """Whether the token grants `perm` (admins and tokens without `perms` grant all)."""
        return self.admin or self.perms is None or perm in self.perms

    def require(self, perm: str) -> None:
        """Raise `PermissionDenied` (403) unless the token grants `perm`."""
        if not self.may(perm):
            raise PermissionDenied(f"this token lacks the permission {perm!r}", permission=perm)

    def session_for(self, session_id: str | None) -> str | None:
        """The session a write is attributed to: a run token writes as its own session only
        (naming another is refused); any other caller as the session it names."""
        if self.scope is None:
            return session_id
        if session_id not in (None, self.scope.session_id):
            raise PermissionDenied(
                "a run token writes as its own session only", session_id=session_id
            )
        return self.scope.session_id

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
        trusted_setting: str | None = None,
    ) -> None:
        self._key = key
        self.keyring = keyring
        self.admin_token = admin_token or load_admin_token(data_dir)
        self.trusted_setting = trusted_setting
        self._anchored: tuple[float, frozenset[str]] = (-1e9, frozenset())
        self._verified: dict[str, _Verified] = {}

    @property
    def key(self) -> SigningKey:
        """The key new tokens are signed with (the keyring's current key, after a rotation)."""
        return self.keyring.current if self.keyring is not None else self._key

    def unknown_kid(self, token: str | None) -> str | None:
        """The key id a JWT names when no key we hold has it (the caller may reload the ring)."""
        if not token or self.keyring is None or "." not in token:
            return None  # not a JWT (the admin token): it names no key
        known = self._verified.get(token)
        if known is not None:
            kid = known.kid
        else:
            try:
                kid = jwt.get_unverified_header(token).get("kid")
            except jwt.PyJWTError:
                return None
        if not isinstance(kid, str) or kid in self.keyring.keys:
            return None
        return kid

    def _public_key(self, token: str) -> tuple[Any, Ed25519PublicKey]:
        """The header's key id and the registered key it names (any instance's, current or
        retired)."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from None
        if self.keyring is None or kid is None:  # no kid: our current key or nothing
            return kid, self.key.public
        if kid == self._key.kid:
            return kid, self._key.public
        found = self._trusted(kid)
        if found is None:
            raise Unauthenticated(f"invalid token: unknown signing key {kid!r}")
        if found.kid not in self.anchored_kids(refresh_after=0.05):
            raise Unauthenticated(
                f"invalid token: signing key {kid!r} is registered but not trusted here (not "
                "this data directory's, not in keys/trusted or ROUNDTABLE_TRUSTED_KEYS)"
            )
        return kid, found.public

    def _trusted(self, kid: Any) -> Any:
        assert self.keyring is not None
        return self.keyring.trusted(str(kid))

    def _public_raw(self, kid: Any) -> bytes | None:
        """The raw key `_public_key` would verify a token with this header `kid` by now, or
        None where it would refuse the token."""
        if self.keyring is None or kid is None:
            return self.key.public_raw
        if kid == self._key.kid:
            return self._key.public_raw
        found = self._trusted(kid)
        if found is None or found.kid not in self.anchored_kids(refresh_after=0.05):
            return None
        raw: bytes = found.public_raw
        return raw

    def anchored_kids(self, refresh_after: float = 1.0) -> frozenset[str]:
        """Keys whose trust comes from outside the database (`keyring.anchors`): a key row an
        attacker inserted into `signing_keys` never signs a token we accept. Re-read from the
        data directory when older than `refresh_after` seconds (so a rotation or `keys trust`
        takes effect without a restart, and untrusted kids cannot force a read per request)."""
        assert self.keyring is not None
        now = time.monotonic()
        if now - self._anchored[0] > refresh_after:
            trusted = anchors(self.keyring, self.trusted_setting).trusted
            self._anchored = (now, frozenset(trusted))
        return self._anchored[1]

    def mint(
        self,
        agent: str,
        namespace: str,
        ttl: timedelta,
        extra: dict[str, str] | None = None,
        *,
        scope: TokenScope | None = None,
        perms: Iterable[str] | None = None,
        audience: str = AUDIENCE,
    ) -> str:
        """Sign a token; `scope` and `perms` are claimed only when given (else unrestricted);
        `extra` adds the private claims of run and runner tokens.

        A token for another `audience` (e.g. an upstream service) is not accepted here.
        """
        check_name("agent", agent)
        check_name("namespace", namespace)
        if ttl.total_seconds() <= 0:
            raise InvalidInput("token ttl must be positive", field="ttl")
        granted = check_perms(perms)
        scope_claim = TokenScope.from_claim(scope.claim()).claim() if scope else None
        now = utcnow()
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": audience,
            "sub": agent,
            "ns": namespace,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": uuid7(),
            **(extra or {}),
        }
        if scope_claim is not None:
            claims["scope"] = scope_claim
        if granted is not None:
            claims["perms"] = sorted(granted)
        return jwt.encode(
            claims, self.key.private, algorithm="EdDSA", headers={"kid": self.key.kid}
        )

    def authenticate(self, token: str | None) -> Principal:
        """Resolve a bearer token to a principal, or raise `Unauthenticated` saying why."""
        if not token:
            raise Unauthenticated("missing bearer token")
        if hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return ADMIN
        known = self._verified.get(token)
        if (
            known is not None
            and known.current(time.time())
            and self._public_raw(known.kid) == known.public_raw
        ):
            return known.principal
        kid, public = self._public_key(token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                public,
                algorithms=["EdDSA"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from None
        principal = _principal(claims)
        self._remember(token, kid, public, claims, principal)
        return principal

    def _remember(
        self,
        token: str,
        kid: Any,
        public: Ed25519PublicKey,
        claims: dict[str, Any],
        principal: Principal,
    ) -> None:
        """Remember a token just verified (see `_Verified`); PyJWT has checked that `exp`,
        `iat` and `nbf` are integers."""
        starts = [int(claims[name]) for name in ("iat", "nbf") if name in claims]
        raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        if len(self._verified) >= VERIFIED_TOKENS_MAX:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = _Verified(
            principal=principal,
            kid=kid,
            public_raw=raw,
            not_before=float(max(starts, default=-math.inf)),
            not_after=float(int(claims["exp"])),
        )

    def mint_run(self, agent: str, namespace: str, scope: RunScope, ttl: timedelta) -> str:
        """A run token (D7): acts as `agent`, confined to `scope`'s session tree."""
        extra = {"rtk": "run", "root": scope.root_id, "sid": scope.session_id, "run": scope.run_id}
        return self.mint(agent, namespace, ttl, extra)

    def mint_runner(self, runner_id: str, namespace: str, ttl: timedelta) -> str:
        """A runner token: valid only on `/api/v1/runners/{runner_id}/...`."""
        return self.mint("runner", namespace, ttl, {"rtk": "runner", "rid": runner_id})


def _claim(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise Unauthenticated(f"invalid token: the {name!r} claim is missing or not a string")
    return value


def _principal(claims: dict[str, Any]) -> Principal:
    """The caller a validly signed token names; a token lacking or mangling a claim is refused
    (401), whoever signed it: a valid signature does not make a claim well-formed."""
    agent, namespace = _claim(claims, "sub"), _claim(claims, "ns")
    try:
        check_name("agent", agent)
        check_name("namespace", namespace)
    except InvalidInput as exc:
        raise Unauthenticated(f"invalid token: {exc.message}") from None
    try:
        token_scope = TokenScope.from_claim(claims.get("scope"))
        perms = check_perms(claims.get("perms"))
    except InvalidInput as exc:
        raise Unauthenticated(f"invalid token: {exc.message}") from None
    kind = claims.get("rtk")
    if kind == "runner":
        return Principal(admin=False, namespace=namespace, runner_id=_claim(claims, "rid"))
    scope = None
    if kind == "run":
        scope = RunScope(
            root_id=_claim(claims, "root"),
            session_id=_claim(claims, "sid"),
            run_id=_claim(claims, "run"),
        )
    return Principal(
        admin=False,
        agent=agent,
        namespace=namespace,
        scope=scope,
        root_session=scope.root_id if scope is not None else token_scope.root_session,
        projects=token_scope.projects,
        perms=perms,
    )


def admin_token_path(data_dir: Path) -> Path:
    return data_dir / "admin.token"


def load_admin_token(data_dir: Path) -> str:
    """The admin token, generated on first use into DATA_DIR/admin.token (mode 0600)."""
    raw = read_or_create(
        admin_token_path(data_dir), lambda: ("rt_admin_" + secrets.token_urlsafe(32)).encode()
    )
    return raw.decode().strip()
