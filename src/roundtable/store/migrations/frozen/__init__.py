"""Frozen copies of the live code a data migration computes with.

A migration must compute today what it computed the day it shipped, so it never imports live
service code (`roundtable.journal`, ...): a later edit there would silently change what an old
upgrade writes. When a migration needs such logic, the exact functions are copied here, in a
module named for the migration that first needed them, and never edited afterwards; a new
behaviour gets a new module. `tests/store/test_frozen_migrations.py` enforces the rule.
"""
