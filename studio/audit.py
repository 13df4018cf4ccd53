"""`make audit`: pip-audit over the pinned requirements, as a report.

Known vulnerabilities make it exit 1 with pip-audit's table. When the vulnerability database
cannot be reached (no network), it says so and exits 0: no report is not a finding.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = ("requirements.txt", "requirements-test.txt")
UNREACHABLE = ("ConnectionError", "Max retries", "NameResolutionError", "timed out", "Network")


def main() -> int:
    findings = 0
    for name in FILES:
        print(f"== pip-audit -r {name}", flush=True)
        result = subprocess.run(
            [sys.executable, "-m", "pip_audit", "-r", name, "--progress-spinner", "off"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        skipped = result.stdout.count("could not be audited")
        if skipped:
            # Every package skipped means the vulnerability data could not be fetched at all.
            print(
                f"make audit: {skipped} packages in {name} could not be checked (the "
                "vulnerability database did not answer for them; offline?). Run it again "
                "with network access for a full report.",
                file=sys.stderr,
            )
            print(
                "\n".join(line for line in result.stdout.splitlines() if "could not be" not in line)
            )
        else:
            print(result.stdout, end="")
        if result.returncode == 0:
            continue
        if "known vulnerabilit" in result.stdout + result.stderr and result.stdout.strip():
            findings += 1
            print(result.stderr, end="", file=sys.stderr)
        elif any(marker in result.stderr for marker in UNREACHABLE):
            print(
                "make audit: the vulnerability database (or the package index) could not be "
                "reached; no report for this file.",
                file=sys.stderr,
            )
        else:
            print(result.stderr, end="", file=sys.stderr)
            findings += 1
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
