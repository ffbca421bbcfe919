"""One handle on the orchestration services, built once per core (`core.orchestration`)."""

from __future__ import annotations

from dataclasses import dataclass

from roundtable.auth.tokens import TokenService
from roundtable.config import Settings
from roundtable.events.service import EventService
from roundtable.journal.service import JournalService
from roundtable.orchestration import events as _events  # noqa: F401 - registers the catalogue
from roundtable.orchestration.blueprints import BlueprintService
from roundtable.orchestration.deletion import DeletionService
from roundtable.orchestration.mcp_servers import McpServerService
from roundtable.orchestration.queue import QueueService
from roundtable.orchestration.runners import RunnerService
from roundtable.orchestration.sweeper import Sweeper
from roundtable.orchestration.trees import TreeService
from roundtable.schemas.service import SchemaService
from roundtable.store.engine import Database


@dataclass
class Orchestration:
    blueprints: BlueprintService
    trees: TreeService
    queue: QueueService
    runners: RunnerService
    deletion: DeletionService
    sweeper: Sweeper
    schemas: SchemaService
    mcp_servers: McpServerService

    @classmethod
    def build(
        cls,
        db: Database,
        settings: Settings,
        tokens: TokenService,
        journal: JournalService,
        events: EventService,
    ) -> Orchestration:
        blueprints = BlueprintService(db)
        runners = RunnerService(db, settings, tokens, journal)
        return cls(
            blueprints=blueprints,
            trees=TreeService(db, settings, blueprints, journal, events),
            queue=QueueService(db, settings, tokens, journal, events),
            runners=runners,
            deletion=DeletionService(db, settings, journal),
            sweeper=Sweeper(db, settings, journal, runners),
            schemas=SchemaService(db),
            mcp_servers=McpServerService(db),
        )
