"""`passerelle search`: search an index directory from the command line (in-process, no server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

# A one-command sub-app: register it with `add_typer(app, name="search")` (options may follow the query
# thanks to allow_interspersed_args), or register the function itself with `command("search")(search)`.
SNIPPET_CHARS = 100

app = typer.Typer(
    help="Search an index directory and print the hits as a table (or JSON).",
    context_settings={"allow_interspersed_args": True},
)


def parse_weights(items: list[str] | None) -> dict[str, float] | None:
    """``["dense=0.7", "sparse=0.3"]`` -> ``{"dense": 0.7, "sparse": 0.3}``.

    Raises:
        ConfigError: an item is not ``NAME=NUMBER``.
    """
    from passerelle.indexing.errors import ConfigError

    if not items:
        return None
    weights: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            number = float(value) if sep and name.strip() else None
        except ValueError:
            number = None
        if number is None:
            raise ConfigError(f"--weight {item!r}: write NAME=NUMBER, e.g. --weight dense=0.7")
        weights[name.strip()] = number
    return weights


def build_request(**values: Any) -> Any:
    """A validated ``SearchRequest`` (the API's own model, so the CLI checks what the API checks).

    Raises:
        ConfigError: an invalid option, named.
    """
    from pydantic import ValidationError

    from passerelle.indexing.errors import ConfigError
    from passerelle.service.api.schemas import SearchRequest

    try:
        return SearchRequest(**{name: value for name, value in values.items() if value is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{_flag(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(problems) from exc


_FLAGS = {"query": "QUERY", "query_lang": "--lang", "doc_langs": "--doc-lang", "weights": "--weight"}


def _flag(loc: tuple[int | str, ...]) -> str:
    field = str(loc[0]) if loc else "query"
    return _FLAGS.get(field, "--" + field.replace("_", "-"))


def explain_line(hit: Any) -> str:
    """The fusion arithmetic of one hit, e.g. ``1/(60+1) [dense] + 1/(60+3) [sparse:en] = 0.0325``."""
    explanation = hit.explanation or {}
    parts = []
    for name, c in explanation.get("contributions", {}).items():
        if explanation.get("method") == "rrf":
            term = f"1/({explanation['rrf_k']}+{c['rank']})"
            if c["weight"] != 1.0:
                term = f"{c['weight']:g}×{term}"
        else:
            term = f"{c['weight']:g}×{c['normalized']:.4f}"
        parts.append(f"{term} [{name}]")
    return f"{hit.id}: {' + '.join(parts) or '(single retriever: its own score)'} = {hit.score:.6g}"


def render(response: Any, *, explain: bool, console: Any) -> None:
    """Print a search response as a rich table (and the fusion arithmetic when ``explain``)."""
    from rich.table import Table

    table = Table(title=f"{response.index} · {response.mode} · query language {response.query_lang}", show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("id", no_wrap=True)
    table.add_column("lang")
    table.add_column("score", justify="right")
    table.add_column("title / snippet", ratio=3)
    table.add_column("retrievers (rank)", ratio=1)
    for rank, hit in enumerate(response.hits, start=1):
        sources = " · ".join(f"{name} #{src.rank}" for name, src in (hit.sources or {}).items())
        snippet = hit.snippet if len(hit.snippet) <= SNIPPET_CHARS else hit.snippet[:SNIPPET_CHARS].rstrip() + "…"
        text = f"[bold]{_escape(hit.title)}[/bold]\n{_escape(snippet)}" if hit.title else _escape(snippet)
        table.add_row(str(rank), hit.id, hit.lang, f"{hit.score:.4f}", text, sources)
    console.print(table)
    if not response.hits:
        console.print("no hits")
    if explain:
        for hit in response.hits:
            console.print(explain_line(hit), markup=False, highlight=False)
    timings = ", ".join(f"{stage} {ms:.1f} ms" for stage, ms in response.timings_ms.items())
    console.print(f"[dim]{timings}[/dim]")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@app.callback(invoke_without_command=True)
def search(
    query: str = typer.Argument(..., help="The question, in any language."),
    index: Path = typer.Option(..., "--index", help="Index directory."),
    mode: str = typer.Option("hybrid", "--mode", help="dense | sparse | hybrid"),
    k: int = typer.Option(10, "--k", "-k", help="Number of hits."),
    lang: str = typer.Option(None, "--lang", help="Query language (default: detected)."),
    doc_lang: list[str] = typer.Option(None, "--doc-lang", help="Only documents in this language (repeatable)."),  # noqa: B008
    fusion: str | None = typer.Option(
        None, "--fusion", help="auto (the service default: language-aware) | rrf | linear (hybrid mode)."
    ),
    normalization: str = typer.Option("minmax", "--normalization", help="minmax | zscore | dbsf (linear)."),
    weight: list[str] = typer.Option(None, "--weight", help="Retriever weight, e.g. dense=0.7 (repeatable)."),  # noqa: B008
    rrf_k: int = typer.Option(60, "--rrf-k", help="The k constant of RRF."),
    depth: int = typer.Option(None, "--depth", help="Candidates per retriever (default: max(100, k))."),
    explain: bool = typer.Option(False, "--explain", help="Show each hit's fusion arithmetic."),
    as_json: bool = typer.Option(False, "--json", help="Print the API's JSON response instead of a table."),
) -> None:
    """Search INDEX for QUERY and print the hits: rank, id, language, score, title, per-retriever ranks."""
    from rich.console import Console

    from passerelle.commands.common import fail_on_error, offline_environment, setup_logging
    from passerelle.service.api.schemas import SearchResponse
    from passerelle.service.api.settings import index_name

    offline_environment()
    with fail_on_error():
        request = build_request(
            query=query,
            mode=mode,
            k=k,
            query_lang=lang,
            doc_langs=doc_lang or None,
            fusion=fusion,
            normalization=normalization,
            weights=parse_weights(weight),
            rrf_k=rrf_k,
            depth=depth if depth is not None else max(100, k),
            explain=explain,
        )
        setup_logging("WARNING")
        from passerelle.service.searcher import Searcher

        searcher = Searcher.open(index)
        try:
            result = searcher.search(request.query, request.to_params())
        finally:
            searcher.index.close()
        response = SearchResponse.from_result(index_name(index), result)
    if as_json:
        typer.echo(response.model_dump_json(indent=2))
        return
    render(response, explain=explain, console=Console())
