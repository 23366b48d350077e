"""Dependency audit: ``pip-audit`` over the installed environment, against PyPI's vulnerability data.

Fails on any known vulnerability unless ``audit_ignore.toml`` lists it with a reason. Skips, saying why,
when the vulnerability service cannot be reached or answers for no package (a mirror or proxy that
serves packages but not the per-release JSON API): an audit that audited nothing must not pass as clean.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

IGNORE_FILE = Path(__file__).with_name("audit_ignore.toml")
ADVISORY_ID = re.compile(r"^(PYSEC-\d{4}-\d+|GHSA(-[23456789cfghjmpqrvwx]{4}){3}|CVE-\d{4}-\d{4,}|OSV-\d{4}-\d+)$")


def accepted() -> list[dict[str, Any]]:
    """The entries of the ignore file."""
    return list(tomllib.loads(IGNORE_FILE.read_text(encoding="utf-8")).get("ignore", []))


def test_every_accepted_vulnerability_is_justified() -> None:
    for entry in accepted():
        assert set(entry) == {"id", "package", "reason"}, entry
        assert ADVISORY_ID.match(entry["id"]), f"{entry['id']!r} is not an advisory id"
        assert len(entry["reason"].split()) >= 5, f"{entry['id']}: say why it does not affect Passerelle"


@pytest.mark.slow
def test_installed_dependencies_have_no_known_vulnerability() -> None:
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--vulnerability-service",
        "pypi",
        "--skip-editable",
        "--progress-spinner",
        "off",
        "--format",
        "json",
        "--timeout",
        "15",
    ]
    for entry in accepted():
        command += ["--ignore-vuln", entry["id"]]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        pytest.skip("pip-audit did not finish in 10 minutes: the vulnerability service is too slow to reach")
    if result.returncode not in (0, 1) or not result.stdout.strip():
        tail = " ".join(result.stderr.split()[-40:])
        if re.search(r"connect|resolve|timed? ?out|unreachable|SSL|HTTP", result.stderr, re.IGNORECASE):
            pytest.skip(f"the vulnerability service is unreachable: {tail}")
        pytest.fail(f"pip-audit failed (exit {result.returncode}): {tail}")
    dependencies = json.loads(result.stdout)["dependencies"]
    audited = [d for d in dependencies if "skip_reason" not in d]
    if not audited:
        example = dependencies[0]["skip_reason"] if dependencies else "no dependency listed"
        pytest.skip(
            f"pip-audit could audit none of the {len(dependencies)} installed packages: the "
            f"vulnerability service did not answer for any ({example})"
        )
    found = [
        f"{d['name']} {d['version']}: {v['id']} (fixed in {', '.join(v.get('fix_versions') or []) or 'none'})"
        for d in audited
        for v in d.get("vulns", [])
    ]
    assert not found, "known vulnerabilities (upgrade, or justify them in audit_ignore.toml):\n" + "\n".join(found)
    print(f"\naudited {len(audited)} of {len(dependencies)} packages: no known vulnerability")
