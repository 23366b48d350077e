"""A corpus in a language Lucene has no analyzer for (Vietnamese) builds and serves with every default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.server import start_server, stop_server
from typer.testing import CliRunner

from passerelle.cli import app
from passerelle.service.api.app import create_app
from passerelle.service.api.settings import ServiceSettings

# Written for this test: short Vietnamese paragraphs and English questions about them.
DOCS = {
    "vi-1": "Phở là món ăn truyền thống của Việt Nam, gồm bánh phở, nước dùng xương bò và rau thơm.",
    "vi-2": "Vịnh Hạ Long có hàng nghìn hòn đảo đá vôi nhô lên giữa làn nước xanh ngọc.",
    "vi-3": "Cà phê trứng được pha từ lòng đỏ trứng gà đánh bông với đường và sữa đặc, rất nổi tiếng ở Hà Nội.",
    "vi-4": "Mùa mưa ở miền Nam thường kéo dài từ tháng năm đến hết tháng mười một.",
    "vi-5": "Ruộng bậc thang ở Sa Pa được đồng bào dân tộc thiểu số trồng lúa qua nhiều thế hệ.",
    "vi-6": "Áo dài là trang phục truyền thống của phụ nữ Việt Nam trong những dịp lễ tết.",
}
QUESTIONS = {
    "limestone islands rising from green water": "vi-2",
    "coffee made with whipped egg yolk and condensed milk": "vi-3",
    "which months does the rainy season last in the south": "vi-4",
}


@pytest.mark.slow
def test_vietnamese_corpus_builds_and_serves_with_defaults(tmp_path: Path) -> None:
    corpus = tmp_path / "vi.jsonl"
    corpus.write_text(
        "".join(json.dumps({"id": i, "lang": "vi", "text": t}, ensure_ascii=False) + "\n" for i, t in DOCS.items()),
        encoding="utf-8",
    )
    out = tmp_path / "index"
    result = CliRunner().invoke(app, ["index", "build", "--corpus", str(corpus), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "no Lucene analyzer for language 'vi'" in result.output  # the fallback is said, not silent
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["analyzers"] == {"vi": "standard"} and manifest["sparse_docs"] == {"vi": len(DOCS)}
    assert manifest["encoder"]["dim"] > 0

    live = start_server(create_app(ServiceSettings(indexes=[out])))
    try:
        with live.client() as http:
            assert http.get("/readyz").json()["status"] == "ready"
            for question, expected in QUESTIONS.items():  # English over Vietnamese: hybrid with the defaults
                hits = http.get("/v1/search", params={"q": question, "k": 3}).json()["hits"]
                assert hits[0]["id"] == expected, (question, hits)
            answer = http.get("/v1/search", params={"q": "cà phê trứng", "mode": "sparse", "k": 1}).json()
            assert answer["hits"][0]["id"] == "vi-3"  # the standard analyzer splits Vietnamese syllables
    finally:
        stop_server(live)
