"""The soak run (``make soak``, not part of the suite): a served index changed under load for a long time.

A ``passerelle serve`` process over a copy of the usem3 sample index answers the service's request mix
at ``RATE`` requests/s while, cycle after cycle, ``passerelle index add`` adds documents, the service
reloads, the new documents are checked, ``passerelle index delete`` removes those of two cycles before,
the service reloads and the deleted ones are checked gone. It must end with:
- no error and no refusal among the load's requests, nor the checks';
- every added document fetchable and found first by a BM25 search of its own text (and in the hybrid
  top 10) while it lives, every deleted one 404 and never a hit, never an id twice in one answer, the
  index's document count exactly what was added and not yet deleted;
- resident memory flat: the last third of the run within 5 % (at least 30 MiB) of the middle third.

``PASSERELLE_SOAK_SECONDS`` sets the duration (``make soak``: 1800); figures go to .passerelle/soak-report.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from support import REPO, SAMPLE_DIR, read_tsv
from support.server import API_KEY, serve_process

from passerelle.bench.capacity import request_mix
from passerelle.bench.load import LoadReport, Phase, run_phases

pytestmark = pytest.mark.slow

SOAK_SECONDS = os.environ.get("PASSERELLE_SOAK_SECONDS")
RATE = float(os.environ.get("PASSERELLE_SOAK_RATE", "4"))
PER_CYCLE = 5
BASE_DOCS = 40


def _doc(cycle: int, n: int) -> dict[str, object]:
    token = f"soakmark{cycle:05d}x{n}"
    return {
        "id": f"soak-{cycle}-{n}",
        "lang": "en",
        "title": f"Soak record {cycle}.{n}",
        "text": f"Record {token} of the soak run: beekeepers and glaciers, cycle {cycle} item {n}.",
        "year": 2000 + cycle % 20,
        "topic": "soak",
    }


def _cli(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "passerelle", "index", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


class Checks:
    """The soak's own requests and what they found."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.requests = 0
        self.duplicates = 0

    def search(self, query: str, mode: str, k: int) -> list[str]:
        response = self.client.post("/v1/search", json={"query": query, "mode": mode, "k": k})
        self.requests += 1
        assert response.status_code == 200, response.text
        ids = [hit["id"] for hit in response.json()["hits"]]
        self.duplicates += len(ids) - len(set(ids))
        return ids

    def reload(self) -> None:
        response = self.client.post("/v1/admin/reload", headers={"X-API-Key": API_KEY})
        self.requests += 1
        assert response.status_code == 200, response.text

    def present(self, doc: dict[str, object]) -> None:
        assert self.client.get(f"/v1/documents/{doc['id']}").status_code == 200, doc["id"]
        assert self.search(str(doc["text"]), "sparse", 3)[:1] == [doc["id"]]
        assert doc["id"] in self.search(str(doc["text"]), "hybrid", 10)
        self.requests += 1

    def absent(self, doc: dict[str, object]) -> None:
        assert self.client.get(f"/v1/documents/{doc['id']}").status_code == 404, doc["id"]
        assert doc["id"] not in self.search(str(doc["text"]), "hybrid", 20)
        self.requests += 1

    def count(self) -> int:
        self.requests += 1
        return int(self.client.get("/v1/indexes").json()["indexes"][0]["manifest"]["doc_count"])


@pytest.mark.skipif(not SOAK_SECONDS, reason="the soak run is `make soak` (PASSERELLE_SOAK_SECONDS)")
@pytest.mark.timeout(float(SOAK_SECONDS or 0) + 600)  # the suite's 600 s per test would stop it
def test_soak_adds_deletes_and_reloads_under_load(sample_usem3_index: Path, tmp_path: Path) -> None:
    seconds = float(SOAK_SECONDS or 0)
    index = tmp_path / "soak"
    shutil.copytree(sample_usem3_index, index)
    queries = list(read_tsv(SAMPLE_DIR / "queries.dev.tsv").values())
    ids = [json.loads(line)["id"] for line in (SAMPLE_DIR / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    env = {"PASSERELLE_SERVICE__API_KEY": API_KEY}
    with serve_process([index], tmp_path / "server.log", env=env, ready_path="/readyz") as server:
        load: list[LoadReport] = []
        phases = [Phase("soak", RATE, seconds)]
        runner = threading.Thread(
            target=lambda: load.append(
                asyncio.run(run_phases(server.url, request_mix(queries, ids), phases, pid=server.process.pid))
            ),
            daemon=True,  # a failed check ends the test (and the process) without waiting for the load's end
        )
        start = time.monotonic()
        runner.start()
        live: dict[int, list[dict[str, object]]] = {}
        cycles = added = deleted = 0
        with server.client(timeout=60) as client:
            checks = Checks(client)
            while time.monotonic() - start < seconds - 30:
                docs = [_doc(cycles, n) for n in range(PER_CYCLE)]
                corpus = tmp_path / f"add-{cycles}.jsonl"
                corpus.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
                _cli("add", "--index", str(index), "--corpus", str(corpus))
                checks.reload()
                live[cycles], added = docs, added + len(docs)
                for doc in docs:
                    checks.present(doc)
                if cycles - 2 in live:
                    gone = live.pop(cycles - 2)
                    _cli("delete", "--index", str(index), *[str(d["id"]) for d in gone])
                    checks.reload()
                    deleted += len(gone)
                    for doc in gone:
                        checks.absent(doc)
                for doc in (d for docs in live.values() for d in docs):
                    checks.present(doc)
                assert checks.count() == BASE_DOCS + added - deleted
                cycles += 1
        runner.join()
        log = server.log_text()
    (report,) = load
    summary = report.summary()
    figures = {
        "seconds": seconds,
        "rate_per_s": RATE,
        "cycles": cycles,
        "added": added,
        "deleted": deleted,
        "reloads": cycles + max(cycles - 2, 0),
        "check_requests": checks.requests,
        "duplicates": checks.duplicates,
        "load_average": list(os.getloadavg()),
        "load": summary,
    }
    out = REPO / ".passerelle" / "soak-report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    rss = [[round(t, 1), round(mb, 1)] for t, mb in report.rss_mb]
    out.write_text(json.dumps({**figures, "rss_samples_mb": rss}, indent=2) + "\n", encoding="utf-8")
    print("\nsoak:", json.dumps(figures))
    assert cycles >= 3
    assert checks.duplicates == 0
    assert report.error_count == 0 and report.refused == 0, summary
    assert report.ok == report.sent == phases[0].count
    assert summary["rss_growth_after_warmup_mb"] <= max(30.0, 0.05 * summary["rss_warm_mb"]), summary
    assert "Traceback" not in log
