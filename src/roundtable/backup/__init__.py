"""Consistent online backups of a whole instance, and their restore into an empty one.

A backup is a directory:

- `roundtable.db` (SQLite: `VACUUM INTO`, one read transaction, so it holds exactly what had
  committed when it began, while the server keeps writing) or `database.pgdump` (PostgreSQL:
  `pg_dump --format=custom`, one repeatable-read snapshot);
- `data/`: the data directory's files (admin token, signing keys and retired keys, trusted key
  list, segment archives, Markdown mirrors), copied after the database snapshot: archives and
  keys are written before the rows that name them commit, so every file the snapshot needs is
  there (a newer file is harmless: a later rotation rewrites it);
- `manifest.json`, written last: format, backend, schema revision, and every file's size and
  SHA-256, checked again by restore.

`restore` copies it into an empty data directory (and, on PostgreSQL, an empty database), brings
the schema to the newest migration, and verifies every journal.
"""
