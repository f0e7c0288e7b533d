"""The first keys of every PostgreSQL advisory lock custops takes, in one place so no two uses can collide.

Each lock is ``(namespace, id)`` with two int4 keys. Whether a lock is held is also how the sweeps tell a live run
from a dead one (``pg_locks``), so a namespace must mean one thing only.
"""

#: A nightly run's session, for its organization (reporting/nightly.py).
NIGHTLY_RUN = 7301
#: An import's rows transaction, for its job (crm/imports/pipeline.py).
IMPORT_JOB = 7302
#: A campaign batch claiming messages under the organization's frequency cap (campaigns/services.py).
CAMPAIGN_FREQUENCY_CAP = 7303

#: ``pg_locks`` rows of an advisory lock ``(namespace, id)`` held in this database (the objsubid 2 form).
HELD_SQL = (
    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid = {namespace}"
    " AND objid::bigint = {key} AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
