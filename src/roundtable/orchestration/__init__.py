"""Orchestration (issue 9): blueprints, session trees, the durable run queue, runners,
structured callbacks and guarded deletion. The database is the only truth; see
docs/orchestration.md."""
