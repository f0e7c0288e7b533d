"""``manage.py backup_restore_drill``: prove that a pg_dump of the database restores to the same figures.

A management command rather than a shell script: it reads the connection from the same settings as every
other process (DATABASE_URL), and counts the figures through the models, so a new model's table is compared
without anyone editing the drill. The work is in ``reporting/backup_drill.py``.
"""

from __future__ import annotations

import datetime
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from reporting.backup_drill import DrillError, drill_run


class Command(BaseCommand):
    help = (
        "Dump the database (pg_dump, custom format), restore it into a new database, and compare headline numbers "
        "(customers, orders, revenue, KPI snapshots, scores per organization; rows per table). Exits 1 on any "
        "difference."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--target", help="name of the database to restore into (must not exist; default: <source>_drill_<time>)"
        )
        parser.add_argument("--dump-file", help="keep the dump at this path (default: a temporary file, removed)")
        parser.add_argument(
            "--keep-restored", action="store_true", help="leave the restored database in place for inspection"
        )

    def handle(self, *args, target=None, dump_file=None, keep_restored=False, **options) -> None:
        source = connections["default"].settings_dict["NAME"]
        target = target or f"{source[:40]}_drill_{datetime.datetime.now(tz=datetime.UTC):%Y%m%d%H%M%S}"
        try:
            if dump_file:
                result = drill_run(target=target, dump_path=Path(dump_file), keep_restored=keep_restored)
            else:
                with tempfile.TemporaryDirectory(prefix="custops-drill-") as folder:
                    result = drill_run(
                        target=target, dump_path=Path(folder) / "custops.dump", keep_restored=keep_restored
                    )
        except DrillError as exc:
            raise CommandError(str(exc)) from exc

        self.stdout.write(
            f"dumped {result.source} ({result.dump_bytes / 1e6:.1f} MB) in {result.dump_seconds:.1f} s, "
            f"restored into {result.restored} in {result.restore_seconds:.1f} s"
            + ("" if keep_restored else " (dropped again)")
        )
        if result.differences:
            for name, before, after in result.differences:
                self.stderr.write(f"DIFFERENT {name}: source {before!r}, restored {after!r}")
            raise CommandError(f"{len(result.differences)} of {result.figures} figures differ after the restore.")
        self.stdout.write(self.style.SUCCESS(f"all {result.figures} figures equal after the restore"))
