"""`roundtable project list|use|show`: journals, and the agent's current one (D2)."""

from __future__ import annotations

from typing import Annotated

import typer

from roundtable.cli import render
from roundtable.cli.common import (
    AgentOpt,
    JsonOpt,
    NamespaceOpt,
    TokenOpt,
    UrlOpt,
    err,
    out,
    print_json,
    target,
)
from roundtable.cli.state import SessionOpt, remember, session_or_remembered
from roundtable.client.context import use_project
from roundtable.client.http import RoundtableClient
from roundtable.errors import InvalidInput, RoundtableError
from roundtable.journal.models import ProjectInfo
from roundtable.sessions.models import ContextInfo

app = typer.Typer(help="List projects and choose the agent's current one.", no_args_is_help=True)


@app.command("list")
def list_(
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """List the namespace's projects with their sizes and chain heads."""
    t = target(url=url, token=token, namespace=namespace)
    projects = t.call(lambda c: c.list_projects())
    if json_:
        print_json(projects)
        return
    if not projects:
        err.print("no projects yet: `roundtable project use NAME --create` makes one")
        return
    out.print(render.projects_table(projects))


def _report_retry(attempt: int, error: BaseException, delay: float) -> None:
    """Say on stderr why the switch is being retried, so a long wait is never a silent one."""
    reason = error.message if isinstance(error, RoundtableError) else str(error)
    err.print(f"attempt {attempt}: {reason}; retrying in {delay:.2f}s", markup=False)


@app.command("use")
def use(
    name: Annotated[str, typer.Argument(help="Project to make current.")],
    create: Annotated[
        bool, typer.Option("--create", help="Create the project if it does not exist.")
    ] = False,
    expect_version: Annotated[
        int | None,
        typer.Option(
            "--expect-version",
            help="Fail with a conflict (exit 4) unless the context is at this version; "
            "without it the current version is read and the switch retried on conflict.",
        ),
    ] = None,
    session: SessionOpt = None,
    agent: AgentOpt = None,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Make NAME the agent's current project, never overwriting a change it has not seen."""
    t = target(url=url, token=token, namespace=namespace, agent=agent)

    async def work(client: RoundtableClient) -> ContextInfo:
        who = t.require_agent()
        session_id = await session_or_remembered(t, client, session)
        if expect_version is not None:
            return await client.set_project(
                who, name, expected_version=expect_version, create=create, session_id=session_id
            )
        return await use_project(
            client, who, name, create=create, session_id=session_id, on_retry=_report_retry
        )

    context = t.call(work)
    remember(t, project=context.project, version=context.version)
    if json_:
        print_json(context)
        return
    out.print(render.context_line(context))


@app.command("show")
def show(
    name: Annotated[
        str | None, typer.Argument(help="Project (default: the agent's current one).")
    ] = None,
    agent: AgentOpt = None,
    json_: JsonOpt = False,
    namespace: NamespaceOpt = None,
    token: TokenOpt = None,
    url: UrlOpt = None,
) -> None:
    """Show a project: size, chain head, creator; by default the agent's current project."""
    t = target(url=url, token=token, namespace=namespace, agent=agent)

    async def work(client: RoundtableClient) -> tuple[ProjectInfo, ContextInfo | None]:
        if name is not None:
            return await client.get_project(name), None
        context = await client.get_context(t.require_agent())
        if context.project is None:
            raise InvalidInput(
                f"agent {context.agent!r} has no current project: "
                "run `roundtable project use NAME` or name a project",
                field="project",
            )
        return await client.get_project(context.project), context

    project, context = t.call(work)
    if json_:
        print_json(project)
        return
    out.print(render.project_details(project, context))
