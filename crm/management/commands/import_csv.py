"""``python manage.py import_csv --org SLUG --kind KIND FILE``: the import pipeline from the command line."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from accounts.models import Organization
from accounts.services import Actor
from crm.imports.pipeline import ImportProgress, import_job_create, import_job_run, rejections_csv_rows
from crm.models import ImportKind, ImportStatus


class Command(BaseCommand):
    help = (
        "Import a CSV file (UTF-8, UTF-8 with BOM, GBK/GB18030 or UTF-16; comma, semicolon or tab) into an "
        "organization. Accepted rows are upserted by their key; rejected rows are reported with line, column "
        "and reason. Exits 0 when the job ran, whatever it rejected."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="path of the CSV file")
        parser.add_argument("--org", required=True, help="organization slug")
        parser.add_argument("--kind", required=True, choices=ImportKind.values, help="what the file holds")
        parser.add_argument(
            "--create-missing-customers",
            action="store_true",
            help="for orders, events and feedback: create a bare customer for an unknown customer_external_id",
        )
        parser.add_argument(
            "--rejects", help="where to write the rejected rows as CSV (default: next to the file, .rejects.csv)"
        )

    def handle(
        self, *args, file: str, org: str, kind: str, create_missing_customers: bool, rejects: str | None, **options
    ):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization with slug '{org}'.")
        try:
            job = import_job_create(
                org=organization,
                actor=Actor(label="import_csv"),
                kind=kind,
                source=path,
                original_filename=path.name,
                create_missing_customers=create_missing_customers,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(" ".join(m) for m in exc.message_dict.values())) from exc

        with tqdm(total=job.file_size, unit="B", unit_scale=True, desc=f"{kind} import", file=sys.stderr) as bar:

            def progress(state: ImportProgress) -> None:
                bar.update(state.bytes_read - bar.n)
                elapsed = bar.format_dict.get("elapsed") or 0
                bar.set_postfix_str(
                    f"{state.rows:,} rows" + (f", {state.rows / elapsed:,.0f} rows/s" if elapsed else "")
                )

            job = import_job_run(job=job, progress=progress)

        if job.status != ImportStatus.SUCCEEDED:
            raise CommandError(f"Import failed: {job.error}")
        seconds = (job.finished_at - job.started_at).total_seconds()
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {path.name} as {kind} into {organization.slug} in {seconds:.1f}s "
                f"({job.encoding}, delimiter {job.delimiter!r}): {job.rows_total:,} rows read, "
                f"{job.rows_created:,} created, {job.rows_updated:,} updated, {job.rows_unchanged:,} unchanged, "
                f"{job.rows_rejected:,} rejected. Job id {job.pk}."
            )
        )
        for warning in job.warnings:
            self.stdout.write(self.style.WARNING(f"Warning: {warning}"))
        if job.rows_rejected:
            target = Path(rejects) if rejects else path.with_suffix(".rejects.csv")
            with target.open("w", newline="", encoding="utf-8-sig") as handle:
                csv.writer(handle).writerows(rejections_csv_rows(job))
            self.stdout.write(f"Rejected rows with their reasons: {target}")
