"""A 200 MB file streams through the reader in flat memory (measured in a child process of its own)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
TARGET_BYTES = 200 * 1024 * 1024

# The peak is sampled from /proc (VmRSS) rather than read from getrusage: Linux carries ru_maxrss across
# exec, so the child would report the high-water mark of the pytest process it was forked from.
READ_AND_MEASURE = """
import sys
from crm.imports.reading import open_csv

def rss_mib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) // 1024

rows = problems = 0
peak = rss_mib()
with open_csv(sys.argv[1]) as source:
    for row in source:
        rows += 1
        problems += row.problem is not None
        if rows % 50_000 == 0:
            peak = max(peak, rss_mib())
print(rows, problems, max(peak, rss_mib()))
"""


def test_a_200_mb_file_is_read_in_flat_memory(tmp_path):
    path = tmp_path / "big.csv"
    line = 'O{n:09d},C{c:07d},2025-05-01 10:00:00,"1,299.50",支付宝\n'
    with path.open("w", encoding="utf-8") as handle:
        handle.write("external_id,customer_external_id,ordered_at,amount,note\n")
        written, n = 0, 0
        while written < TARGET_BYTES:
            chunk = "".join(line.format(n=n + i, c=(n + i) % 1_000_000) for i in range(10_000))
            handle.write(chunk)
            written += len(chunk.encode())
            n += 10_000

    result = subprocess.run(
        [sys.executable, "-c", READ_AND_MEASURE, str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    rows, problems, peak_mib = (int(value) for value in result.stdout.split())

    assert (rows, problems) == (n, 0)
    assert peak_mib < 80, f"peak RSS {peak_mib} MiB for a {written // 2**20} MiB file"
