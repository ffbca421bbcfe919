"""Per-namespace count of active sessions, kept by triggers (issue 16).

`start_session` checks the namespace's session limit under the namespace row's lock; counting
the live sessions was O(n). The count of `status = 'active'` rows is kept here by triggers on
`sessions`, whatever code path inserts, updates or deletes them. SQLite: row triggers.
PostgreSQL: statement triggers over transition tables, so a sweep expiring 5,000 sessions
updates each namespace's counter once, not 5,000 times.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_SQLITE_TRIGGERS = (
    "CREATE TRIGGER sessions_count_insert AFTER INSERT ON sessions "
    "WHEN new.status = 'active' BEGIN "
    "INSERT INTO session_counts(namespace, active) VALUES (new.namespace, 1) "
    "ON CONFLICT(namespace) DO UPDATE SET active = active + 1; END",
    "CREATE TRIGGER sessions_count_delete AFTER DELETE ON sessions "
    "WHEN old.status = 'active' BEGIN "
    "UPDATE session_counts SET active = active - 1 WHERE namespace = old.namespace; END",
    "CREATE TRIGGER sessions_count_update AFTER UPDATE OF status, namespace ON sessions "
    "WHEN old.status = 'active' OR new.status = 'active' BEGIN "
    "UPDATE session_counts SET active = active - 1 "
    "WHERE namespace = old.namespace AND old.status = 'active'; "
    "INSERT INTO session_counts(namespace, active) SELECT new.namespace, 1 "
    "WHERE new.status = 'active' "
    "ON CONFLICT(namespace) DO UPDATE SET active = active + 1; END",
)

_POSTGRESQL_FUNCTION = """
CREATE FUNCTION sessions_count_active() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO session_counts AS c (namespace, active)
        SELECT namespace, count(*) FROM new_rows WHERE status = 'active' GROUP BY namespace
        ON CONFLICT (namespace) DO UPDATE SET active = c.active + excluded.active;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE session_counts AS c SET active = c.active - d.n
        FROM (SELECT namespace, count(*) AS n FROM old_rows WHERE status = 'active'
              GROUP BY namespace) AS d
        WHERE c.namespace = d.namespace;
    ELSE
        INSERT INTO session_counts AS c (namespace, active)
        SELECT namespace, sum(delta) FROM (
            SELECT namespace, 1 AS delta FROM new_rows WHERE status = 'active'
            UNION ALL
            SELECT namespace, -1 AS delta FROM old_rows WHERE status = 'active'
        ) AS d
        GROUP BY namespace HAVING sum(delta) <> 0
        ON CONFLICT (namespace) DO UPDATE SET active = c.active + excluded.active;
    END IF;
    RETURN NULL;
END
$$
"""

_POSTGRESQL_TRIGGERS = (
    "CREATE TRIGGER sessions_count_insert AFTER INSERT ON sessions "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION sessions_count_active()",
    "CREATE TRIGGER sessions_count_delete AFTER DELETE ON sessions "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION sessions_count_active()",
    "CREATE TRIGGER sessions_count_update AFTER UPDATE ON sessions "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION sessions_count_active()",
)


def upgrade() -> None:
    op.create_table(
        "session_counts",
        sa.Column("namespace", sa.String(64), primary_key=True),
        sa.Column("active", sa.BigInteger, nullable=False),
    )
    op.execute(
        "INSERT INTO session_counts (namespace, active) "
        "SELECT namespace, count(*) FROM sessions WHERE status = 'active' GROUP BY namespace"
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(_POSTGRESQL_FUNCTION)
        for statement in _POSTGRESQL_TRIGGERS:
            op.execute(statement)
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    for name in ("sessions_count_insert", "sessions_count_delete", "sessions_count_update"):
        if op.get_context().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER {name} ON sessions")
        else:
            op.execute(f"DROP TRIGGER {name}")
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION sessions_count_active()")
    op.drop_table("session_counts")
