"""The one import pipeline behind the command, the upload page and the API.

A job reads its file as a stream (``crm/imports/reading.py``), cleans each row (``crm/imports/kinds.py``) and
writes batches set-based. All accepted rows of a job commit in one transaction: a crash leaves nothing of
the job behind, and nothing already stored is ever deleted. Rejected rows are kept with their line, column,
reason and cells, so the person who imported the file can fix exactly those rows.
"""

from __future__ import annotations

import datetime
import logging
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import advisory_locks
from accounts.models import Organization
from accounts.services import Actor, audit_record
from config.cache import cache_reachable
from crm.imports.kinds import KINDS, BatchResult, CleanRow, ImportContext, RowError, write_batch
from crm.imports.reading import CsvFormatError, CsvRow, open_csv
from crm.models import ImportJob, ImportKind, ImportRejection, ImportStatus
from crm.selectors import import_rejections
from crm.spreadsheets import neutralize_formula
from webhooks.models import EventType
from webhooks.services import event_emit

logger = logging.getLogger(__name__)

BATCH_ROWS = 50_000
MAX_WARNING_EXAMPLES = 20
PROGRESS_EVERY_ROWS = 2000
PROGRESS_TTL_SECONDS = 24 * 3600
#: First key of the PostgreSQL advisory lock a running job holds (the second is the job id): while a session
#: holds it, the job's worker is alive; PostgreSQL drops it with the connection of a worker that died.
IMPORT_LOCK_NAMESPACE = advisory_locks.IMPORT_JOB
#: A job whose worker died this many times is run no more: it is marked failed instead of queued again.
MAX_RESTARTS = 3


def import_storage_dir(org: Organization) -> Path:
    return Path(settings.MEDIA_ROOT) / "imports" / str(org.pk)


def progress_cache_key(job_id: int) -> str:
    return f"import-progress:{job_id}"


@dataclass(frozen=True)
class ImportProgress:
    rows: int
    bytes_read: int
    bytes_total: int
    #: When the running job last reported (epoch seconds): the heartbeat that tells a live job from a dead one.
    at: float = 0.0

    @property
    def fraction(self) -> float:
        return min(1.0, self.bytes_read / self.bytes_total) if self.bytes_total else 0.0


def import_job_create(
    *,
    org: Organization,
    actor: Actor,
    kind: str,
    source: IO[bytes] | Path,
    original_filename: str,
    create_missing_customers: bool = False,
) -> ImportJob:
    """Keep a copy of the file and queue a job for it; the job runs later (task, command or test)."""
    if kind not in ImportKind.values:
        raise ValidationError({"kind": [_("Choose one of: %(kinds)s.") % {"kinds": ", ".join(ImportKind.values)}]})
    folder = import_storage_dir(org)
    folder.mkdir(parents=True, exist_ok=True)
    stored = folder / f"{uuid.uuid4().hex}.csv"
    if isinstance(source, Path):
        shutil.copyfile(source, stored)
    else:
        with stored.open("wb") as target:
            shutil.copyfileobj(source, target, length=1024 * 1024)
    job = ImportJob.objects.create(
        organization=org,
        kind=kind,
        original_filename=Path(original_filename).name[:255],
        stored_path=str(stored),
        file_size=stored.stat().st_size,
        options={"create_missing_customers": bool(create_missing_customers)},
        created_by=actor.user,
        created_by_label=actor.display,
    )
    audit_record(
        org=org,
        actor=actor,
        action="import.create",
        instance=job,
        after={"kind": kind, "file": job.original_filename, "bytes": job.file_size},
    )
    return job


class _Counts:
    def __init__(self) -> None:
        self.total = 0
        self.created = 0
        self.updated = 0
        self.unchanged = 0
        self.rejected = 0
        self.repeated_lines: list[int] = []
        self.repeated = 0

    def note_repeat(self, line: int) -> None:
        self.repeated += 1
        if len(self.repeated_lines) < MAX_WARNING_EXAMPLES:
            self.repeated_lines.append(line)

    def add(self, result: BatchResult) -> None:
        self.created += result.created
        self.updated += result.updated
        self.unchanged += result.unchanged


def _storable(text: str) -> str:
    """The cell as a person should see it in the report; PostgreSQL cannot store NUL characters."""
    return text.replace("\x00", "\\x00")


class SeenKeys:
    """The keys of earlier batches, as 64-bit hashes in a few sorted arrays: 8 bytes a row, not a Python set.

    Ten million orders would take a gigabyte as a set of tuples; here they take 80 MB. Arrays are merged
    when there are too many of them, so a lookup stays a handful of binary searches. A hash collision (about
    one in 10^6 at ten million rows) could only add a false "repeated" warning; no data depends on it.
    """

    MAX_LEVELS = 8

    def __init__(self) -> None:
        self.levels: list[np.ndarray] = []

    def add_and_find_repeats(self, keys: list[tuple]) -> np.ndarray:
        """Mark which ``keys`` were added before, then add them all."""
        hashes = np.fromiter((hash(key) for key in keys), dtype=np.int64, count=len(keys))
        repeated = np.zeros(len(keys), dtype=bool)
        for level in self.levels:
            positions = np.searchsorted(level, hashes).clip(max=len(level) - 1)
            repeated |= level[positions] == hashes
        self.levels.append(np.sort(hashes))
        if len(self.levels) > self.MAX_LEVELS:
            self.levels = [np.unique(np.concatenate(self.levels))]
        return repeated


class PostgresSeenKeys:
    """The same bookkeeping in a temporary table of the job's transaction, so the worker's memory stays flat.

    Held in Python, ten million hashes and the sorted copies made while merging them cost hundreds of
    megabytes (freed arrays do not all go back to the system); in PostgreSQL they are a temporary table with a
    primary key, dropped when the job commits or rolls back.
    """

    def __init__(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE IF NOT EXISTS import_seen_keys (hash bigint PRIMARY KEY) ON COMMIT DROP")
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS import_seen_batch (position integer, hash bigint) ON COMMIT DROP"
            )
            cursor.execute("TRUNCATE import_seen_keys, import_seen_batch")

    def add_and_find_repeats(self, keys: list[tuple]) -> np.ndarray:
        """Mark which ``keys`` were added before, then add them all."""
        repeated = np.zeros(len(keys), dtype=bool)
        lines = "".join(f"{position}\t{hash(key)}\n" for position, key in enumerate(keys))
        with connection.cursor() as cursor:
            raw = cursor.cursor
            raw.execute("TRUNCATE import_seen_batch")
            with raw.copy("COPY import_seen_batch (position, hash) FROM STDIN") as copy:
                copy.write(lines.encode())
            raw.execute("SELECT b.position FROM import_seen_batch AS b JOIN import_seen_keys AS k ON k.hash = b.hash")
            repeated[[row[0] for row in raw.fetchall()]] = True
            raw.execute(
                "INSERT INTO import_seen_keys (hash) SELECT DISTINCT hash FROM import_seen_batch ON CONFLICT DO NOTHING"
            )
        return repeated


def seen_keys_for_this_database() -> SeenKeys | PostgresSeenKeys:
    return PostgresSeenKeys() if connection.vendor == "postgresql" else SeenKeys()


def _note_repeats_of_earlier_batches(
    batch: dict[tuple, CleanRow], seen: SeenKeys | PostgresSeenKeys, counts: _Counts
) -> None:
    if not batch:
        return
    repeated = seen.add_and_find_repeats(list(batch))
    for row, is_repeat in zip(batch.values(), repeated, strict=True):
        if is_repeat:
            counts.note_repeat(row.line)


def _rejection(job: ImportJob, line: int, column: str, reason: str, values: dict[str, str]) -> ImportRejection:
    return ImportRejection(
        organization_id=job.organization_id,
        job=job,
        line=line,
        column=_storable(column)[:100],
        reason=_storable(reason),
        values={_storable(name): _storable(value) for name, value in values.items()},
    )


def _check_header(job: ImportJob, header: list[str]) -> list[str]:
    """Fail on missing required columns; return warnings for the columns that will be ignored."""
    spec = KINDS[job.kind]
    missing = [column for column in spec.required if column not in header]
    if missing:
        raise CsvFormatError(
            _(
                "The file lacks the required column(s) %(missing)s. An import of %(kind)s needs: %(required)s; it may also have: %(optional)s."
            )
            % {
                "missing": ", ".join(missing),
                "kind": job.kind,
                "required": ", ".join(spec.required),
                "optional": ", ".join(spec.optional) or "-",
            }
        )
    extra = [column for column in header if column not in spec.columns]
    return [
        _("The column '%(column)s' is not used by an import of %(kind)s and was ignored.")
        % {"column": c, "kind": job.kind}
        for c in extra
    ]


def _flush(
    job: ImportJob,
    batch: dict[tuple, CleanRow],
    rejections: list[ImportRejection],
    context: ImportContext,
    counts: _Counts,
) -> None:
    if batch:
        result = write_batch(KINDS[job.kind], list(batch.values()), context)
        counts.add(result)
        for row, column, reason in result.rejected:
            rejections.append(_rejection(job, row.line, column, reason, row.raw))
        batch.clear()
    if rejections:
        counts.rejected += len(rejections)
        ImportRejection.objects.bulk_create(rejections, batch_size=2000)
        rejections.clear()


def _rows(
    job: ImportJob, rows: Iterable[CsvRow], context: ImportContext, counts: _Counts, report: Callable[[int], None]
) -> None:
    spec = KINDS[job.kind]
    batch: dict[tuple, CleanRow] = {}
    rejections: list[ImportRejection] = []
    seen = seen_keys_for_this_database()
    for row in rows:
        counts.total += 1
        if row.problem:
            rejections.append(_rejection(job, row.line, "", row.problem, row.values))
        else:
            try:
                key, fields, customer_external_id = spec.clean(row.values, context)
            except RowError as exc:
                rejections.append(_rejection(job, row.line, exc.column, exc.message, row.values))
            else:
                file_key = (customer_external_id, *key)
                if file_key in batch:
                    counts.note_repeat(row.line)
                    del batch[file_key]
                batch[file_key] = CleanRow(row.line, row.values, key, fields, customer_external_id)
        if len(batch) >= BATCH_ROWS:
            _note_repeats_of_earlier_batches(batch, seen, counts)
            _flush(job, batch, rejections, context, counts)
        if counts.total % PROGRESS_EVERY_ROWS == 0:
            report(counts.total)
    _flush(job, batch, rejections, context, counts)
    report(counts.total)


class _ClaimLostError(Exception):
    """Another worker holds the job (its lock is taken, or the job was handed to someone else): leave it."""


def import_job_run(*, job: ImportJob, progress: Callable[[ImportProgress], None] | None = None) -> ImportJob:
    """Run a queued job to the end; its rows and its outcome either all commit or, if anything crashes, none do."""
    now = timezone.now()
    # Claim the job in one conditional update: a message delivered twice (a worker lost, the queue re-sent by the
    # stale-job sweep) finds it running or finished and leaves it to its first taker.
    claimed = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING, started_at=now, updated_at=now
    )
    if not claimed:
        job.refresh_from_db()
        return job
    job.status = ImportStatus.RUNNING
    job.started_at = now
    started = time.perf_counter()
    warnings: list[str] = []
    try:
        with open_csv(job.stored_path) as source:
            job.encoding, job.delimiter = source.encoding, source.delimiter
            warnings.extend(_check_header(job, source.header))
            context = ImportContext.for_org(
                job.organization,
                create_missing_customers=job.options.get("create_missing_customers", False),
                actor_label=job.created_by_label,
            )

            def report(rows: int) -> None:
                state = ImportProgress(
                    rows=rows, bytes_read=source.bytes_read, bytes_total=source.bytes_total, at=time.time()
                )
                cache.set(progress_cache_key(job.pk), state.__dict__, PROGRESS_TTL_SECONDS)
                if progress is not None:
                    progress(state)

            # The rows, the outcome, its audit entry and its ``import.finished`` event commit together, under the
            # job's lock: a worker dying anywhere before the commit leaves nothing, one dying after it leaves a
            # finished job, and no moment exists where the rows are in but the job still says "running".
            with transaction.atomic():
                _hold_liveness_lock(job)
                counts = _Counts()
                _rows(job, source, context, counts, report)
                _set_outcome(job, counts, warnings, ImportStatus.SUCCEEDED)
                _finish(job, started)
            return job
    except _ClaimLostError:
        logger.warning("import job %s is held by another worker; leaving it", job.pk)
        job.refresh_from_db()
        return job
    except CsvFormatError as exc:
        job.error = str(exc)
    except Exception as exc:
        logger.exception("import job %s failed", job.pk)
        job.error = _("The import stopped with an internal error (%(error)s); nothing of this file was saved.") % {
            "error": type(exc).__name__
        }
    _set_outcome(job, _Counts(), warnings, ImportStatus.FAILED)
    try:
        with transaction.atomic():
            _finish(job, started)
    except _ClaimLostError:
        job.refresh_from_db()
    return job


def _set_outcome(job: ImportJob, counts: _Counts, warnings: list[str], status: str) -> None:
    if counts.repeated:
        warnings.append(
            _(
                "%(count)d row(s) repeated a record given earlier in the file; the last one was kept (e.g. lines %(lines)s)."
            )
            % {"count": counts.repeated, "lines": ", ".join(str(line) for line in counts.repeated_lines)}
        )
    job.status = status
    job.rows_total = counts.total
    job.rows_created, job.rows_updated, job.rows_unchanged = counts.created, counts.updated, counts.unchanged
    job.rows_rejected = counts.rejected
    job.warnings = warnings
    job.finished_at = timezone.now()


def _finish(job: ImportJob, started: float) -> None:
    """Save the outcome, if the job is still this run's (same claim), with its audit entry and webhook event."""
    current = ImportJob.objects.select_for_update().filter(pk=job.pk).values_list("status", "started_at").first()
    if current != (ImportStatus.RUNNING, job.started_at):
        raise _ClaimLostError
    job.save()
    audit_record(
        org=job.organization,
        actor=Actor(user=job.created_by, label=job.created_by_label),
        action="import.finish",
        instance=job,
        after={
            "status": job.status,
            "rows": job.rows_total,
            "created": job.rows_created,
            "updated": job.rows_updated,
            "unchanged": job.rows_unchanged,
            "rejected": job.rows_rejected,
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
    event_emit(
        org=job.organization,
        event_type=EventType.IMPORT_FINISHED,
        payload={
            "import_id": job.pk,
            "kind": job.kind,
            "status": job.status,
            "rows_total": job.rows_total,
            "rows_created": job.rows_created,
            "rows_updated": job.rows_updated,
            "rows_unchanged": job.rows_unchanged,
            "rows_rejected": job.rows_rejected,
            "finished_at": job.finished_at,
        },
    )


def rejections_csv_rows(job: ImportJob) -> Iterator[list[str]]:
    """The rejected rows as they were in the file, then their line, column and reason: fix them and re-import."""
    columns = list(KINDS[job.kind].columns)
    yield [*columns, "line", "column", "reason"]
    for rejection in import_rejections(job=job).iterator(chunk_size=2000):
        cells = [rejection.values.get(column, "") for column in columns]
        yield [
            *(neutralize_formula(cell) for cell in cells),
            str(rejection.line),
            rejection.column,
            neutralize_formula(rejection.reason),
        ]


def _hold_liveness_lock(job: ImportJob) -> None:
    """Take the job's advisory lock for the rest of the transaction that writes its rows (PostgreSQL only).

    Held by someone else, the job is another worker's (a copy of its message reached this one): raise.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [IMPORT_LOCK_NAMESPACE, job.pk])
            if not cursor.fetchone()[0]:
                raise _ClaimLostError


def _import_alive(job: ImportJob, *, silent_since: float) -> bool:
    """Whether a running job's worker is still at it.

    On PostgreSQL the answer is exact: its session holds the job's lock. Elsewhere, whether it reported progress
    since ``silent_since`` (the cache may have lost that, which only means an early re-run of a job that is safe
    to run again).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT EXISTS ({advisory_locks.HELD_SQL.format(namespace='%s', key='%s')})",
                [IMPORT_LOCK_NAMESPACE, job.pk],
            )
            return cursor.fetchone()[0]
    if not cache_reachable():
        return True  # progress cannot be read: assume alive rather than run the job twice
    state = cache.get(progress_cache_key(job.pk))
    return bool(state and state.get("at", 0) >= silent_since)


def _give_up(job: ImportJob, *, now: datetime.datetime, restarts: int) -> None:
    error = _(
        "The worker stopped %(count)d times while importing this file (out of memory?); nothing of it was saved. "
        "Split the file and import the parts."
    ) % {"count": restarts + 1}
    if ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING, started_at=job.started_at).update(
        status=ImportStatus.FAILED, error=error, finished_at=now, updated_at=now
    ):
        logger.error("import job %s killed its worker %s times; marked failed", job.pk, restarts + 1)
        audit_record(
            org=job.organization,
            actor=Actor(label="cleanup"),
            action="import.finish",
            instance=job,
            after={"status": ImportStatus.FAILED, "restarts": restarts},
        )


def import_job_enqueue(job_id: int) -> bool:
    """Send the job to a worker; False (logged) when the broker cannot take it: the stale-job sweep sends it later."""
    from crm.tasks import run_import_job

    try:
        run_import_job.delay(job_id)
    except Exception:
        logger.exception("could not queue import job %s; the stale-import sweep will queue it again", job_id)
        return False
    return True


def import_job_confirm(*, job: ImportJob) -> bool:
    """Confirm a queued upload (it runs once this transaction commits); False if it was confirmed already.

    ``started_at`` on a queued job means "confirmed": a double click, or a retried request, queues it once.
    """
    now = timezone.now()
    claimed = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.QUEUED, started_at__isnull=True).update(
        started_at=now, updated_at=now
    )
    if claimed:
        transaction.on_commit(lambda: import_job_enqueue(job.pk))
    return bool(claimed)


def import_jobs_requeue_stale(*, silent_for: datetime.timedelta) -> list[int]:
    """Queue again the jobs a worker should have finished: returns their ids.

    * running jobs whose worker died (killed, out of memory, restarted): a job's rows commit together at its
      end, so a dead worker left nothing of it in the database, and running it again from the start is safe;
    * confirmed jobs still queued after ``silent_for``: their message was lost (the broker was down when they
      were confirmed, or Redis restarted empty). If it was only slow, the copy finds the job claimed and does
      nothing.
    """
    now = timezone.now()
    cutoff = now - silent_for
    requeued = []
    for job in ImportJob.objects.filter(status=ImportStatus.RUNNING, started_at__lt=cutoff):
        if _import_alive(job, silent_since=cutoff.timestamp()):
            continue
        restarts = int(job.options.get("restarts", 0)) + 1
        if restarts > MAX_RESTARTS:
            # A file that kills its worker every time (out of memory) would otherwise be re-run for ever.
            _give_up(job, now=now, restarts=restarts - 1)
            continue
        options = {**job.options, "restarts": restarts}
        if ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING, started_at=job.started_at).update(
            status=ImportStatus.QUEUED, updated_at=now, options=options
        ):
            logger.warning("import job %s went silent; queued again (restart %s)", job.pk, restarts)
            requeued.append(job.pk)
    waiting = ImportJob.objects.filter(status=ImportStatus.QUEUED, started_at__isnull=False, updated_at__lt=cutoff)
    for job_id in waiting.values_list("pk", flat=True):
        # Touching updated_at sends each waiting job at most once per ``silent_for``.
        if ImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED, updated_at__lt=cutoff).update(
            updated_at=now
        ):
            logger.warning("import job %s is still queued; sending it again", job_id)
            requeued.append(job_id)
    for job_id in requeued:
        import_job_enqueue(job_id)
    return requeued


def import_job_discard(*, job: ImportJob, actor: Actor, reason: str = "") -> bool:
    """Drop an upload that was never started: its file is deleted and the job says why. False if it had started."""
    discarded = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.QUEUED, started_at__isnull=True).update(
        status=ImportStatus.FAILED,
        error=reason or _("Discarded before it was imported."),
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    if not discarded:
        return False
    Path(job.stored_path).unlink(missing_ok=True)
    audit_record(org=job.organization, actor=actor, action="import.discard", instance=job)
    return True


def import_jobs_discard_unconfirmed(*, older_than: datetime.timedelta) -> int:
    """Uploads previewed but never confirmed are discarded after a while, so their files do not pile up."""
    stale = ImportJob.objects.filter(
        status=ImportStatus.QUEUED, started_at__isnull=True, created_at__lt=timezone.now() - older_than
    ).select_related("organization")
    reason = _("Discarded: it was uploaded but not imported within a day.")
    return sum(import_job_discard(job=job, actor=Actor(label="cleanup"), reason=reason) for job in stale)
