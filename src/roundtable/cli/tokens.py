"""`roundtable token create`: mint an agent token locally from the data directory's signing key.

Minting needs no running server, only the key the server signs with (DATA_DIR/keys), so it is
done here rather than over HTTP; the server accepts the token because it holds the same key.
The token alone goes to stdout, so `TOKEN=$(roundtable token create --agent a)` works.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from roundtable.api.schemas import TokenRequest
from roundtable.auth.keys import SigningKey
from roundtable.cli.common import JsonOpt, NamespaceOpt, err, fail, load_settings, print_json
from roundtable.cli.timeparse import parse_duration
from roundtable.config import Settings
from roundtable.errors import InvalidInput, RoundtableError
from roundtable.validation import check_name

if TYPE_CHECKING:  # the token service imports the store (SQLAlchemy): only when minting
    from roundtable.auth.tokens import TokenScope

app = typer.Typer(help="Mint agent tokens.", no_args_is_help=True)

#: Where `SigningKey.load_or_create` keeps the key (checked only to warn about a new one).
KEY_FILE = ("keys", "signing-ed25519.pem")


def _request(agent: str, ttl: str | None, default_ttl: int) -> TokenRequest:
    """The same bounds the HTTP API enforces on a token request (one rule, every interface)."""
    seconds = (
        default_ttl if ttl is None else int(parse_duration(ttl, option="--ttl").total_seconds())
    )
    try:
        return TokenRequest(agent=check_name("agent", agent), ttl_seconds=seconds)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "--ttl" if "ttl_seconds" in first["loc"] else ".".join(map(str, first["loc"]))
        raise InvalidInput(f"{where}: {first['msg']}", field=where) from None


def parse_scope(items: list[str] | None) -> TokenScope | None:
    """`--scope root_session=ID --scope projects=a,b` as a `TokenScope` (None: unrestricted)."""
    from roundtable.auth.tokens import TokenScope

    if not items:
        return None
    claim: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in ("root_session", "projects") or not value:
            raise InvalidInput(
                f"--scope {item!r}: use root_session=SESSION_ID or projects=NAME[,NAME...]",
                field="--scope",
            )
        claim[key] = value if key == "root_session" else value.split(",")
    return TokenScope.from_claim(claim)


def parse_perms(value: str | None) -> frozenset[str] | None:
    """`--perms documents:read,documents:write` as a set (None: every permission)."""
    from roundtable.auth.tokens import check_perms

    if value is None:
        return None
    return check_perms([p.strip() for p in value.split(",") if p.strip()])


@app.command("create")
def create(
    agent: Annotated[str, typer.Option("--agent", "-a", help="Agent the token identifies.")],
    ttl: Annotated[
        str | None,
        typer.Option(
            "--ttl",
            help="Lifetime, e.g. 30m, 1h, 7d (env: ROUNDTABLE_TOKEN_DEFAULT_TTL_SECONDS; "
            f"default: {Settings.model_fields['token_default_ttl_seconds'].default} s).",
        ),
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="Bound the token: root_session=ROOT_SESSION_ID, projects=a,b (repeatable).",
        ),
    ] = None,
    perms: Annotated[
        str | None,
        typer.Option("--perms", help="Comma-separated, e.g. documents:read,documents:write."),
    ] = None,
    namespace: NamespaceOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Mint an Ed25519 JWT for AGENT in NAMESPACE and print it.

    Without --scope and --perms the token may do anything its agent may (as before)."""
    settings = load_settings(namespace=namespace)
    try:
        request = _request(agent, ttl, settings.token_default_ttl_seconds)
        ns = check_name("namespace", settings.namespace)
        fresh_key = not settings.data_dir.joinpath(*KEY_FILE).exists()
        key = SigningKey.load_or_create(settings.data_dir)
        from roundtable.auth.tokens import TokenService

        service = TokenService(settings.data_dir, key, settings.admin_token)
        token_scope = parse_scope(scope)
        granted = parse_perms(perms)
        issued_at = datetime.now(UTC)
        token = service.mint(
            request.agent,
            ns,
            timedelta(seconds=request.ttl_seconds),
            scope=token_scope,
            perms=granted,
        )
    except RoundtableError as error:
        raise fail(error) from None
    expires = issued_at + timedelta(seconds=request.ttl_seconds)
    if fresh_key:
        err.print(
            f"[yellow]created a new signing key in {settings.data_dir}[/yellow]: only a server "
            "using this data directory accepts the token"
        )
    if json_:
        print_json(
            {
                "token": token,
                "agent": request.agent,
                "namespace": ns,
                "kid": key.kid,
                "ttl_seconds": request.ttl_seconds,
                "expires_at": expires.isoformat(),
                "scope": token_scope.claim() if token_scope else None,
                "perms": sorted(granted) if granted is not None else None,
            }
        )
        return
    typer.echo(token)
    err.print(
        f"token for agent {request.agent} in namespace {ns}, "
        f"expires {expires.astimezone():%Y-%m-%d %H:%M:%S %Z}",
        markup=False,
    )
