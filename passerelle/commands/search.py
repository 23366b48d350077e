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
    from passerelle.service.api.requests import SearchRequest

    try:
        return SearchRequest(**{name: value for name, value in values.items() if value is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{_flag(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(problems) from exc


_FLAGS = {
    "query": "QUERY",
    "query_lang": "--lang",
    "doc_langs": "--doc-lang",
    "weights": "--weight",
    "fields": "--fields",
}


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
    """Print a search response as a rich table (and the fusion arithmetic when ``explain``): the hits from
    ``offset + 1``, with a metadata column when the hits carry metadata."""
    from rich.table import Table

    title = f"{response.index} · {response.mode} · query language {response.query_lang}"
    if response.filter_matches is not None:
        title += f" · {response.filter_matches} documents match the filter"
    table = Table(title=title, show_lines=False)
    with_metadata = any(hit.metadata for hit in response.hits)
    table.add_column("#", justify="right")
    table.add_column("id", no_wrap=True)
    table.add_column("lang")
    table.add_column("score", justify="right")
    table.add_column("title / snippet", ratio=3)
    table.add_column("retrievers (rank)", ratio=1)
    if with_metadata:
        table.add_column("metadata", ratio=1)
    for rank, hit in enumerate(response.hits, start=response.offset + 1):
        sources = " · ".join(f"{name} #{src.rank}" for name, src in (hit.sources or {}).items())
        snippet = hit.snippet or ""
        snippet = snippet if len(snippet) <= SNIPPET_CHARS else snippet[:SNIPPET_CHARS].rstrip() + "…"
        text = "\n".join(
            part for part in (f"[bold]{_escape(hit.title)}[/bold]" if hit.title else "", _escape(snippet)) if part
        )
        row = [str(rank), hit.id, hit.lang or "", f"{hit.score:.4f}", text, sources]
        if with_metadata:
            row.append(_escape(", ".join(f"{key}: {value}" for key, value in (hit.metadata or {}).items())))
        table.add_row(*row)
    console.print(table)
    if not response.hits:
        console.print("no hits")
    elif response.has_more:
        console.print(f"[dim]more hits follow: --offset {response.offset + len(response.hits)}[/dim]")
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
    filters: list[str] = typer.Option(  # noqa: B008
        None,
        "--filter",
        help=(
            "Only documents matching this condition (repeatable, all must hold): FIELD=V, FIELD!=V, FIELD>=V "
            "(>, <, <=), 'FIELD in A,B', 'FIELD not in A,B', 'FIELD exists', 'FIELD missing', or a JSON filter "
            "as the API takes it; values are read with the field's type (passerelle index info lists the fields)."
        ),
    ),
    offset: int = typer.Option(0, "--offset", min=0, help="Skip this many hits (the next page: offset + k)."),
    fields: str = typer.Option(
        None,
        "--fields",
        help="Stored fields per hit, comma-separated (default lang,title,snippet,sources; also text, views, metadata).",
    ),
    explain: bool = typer.Option(False, "--explain", help="Show each hit's fusion arithmetic."),
    as_json: bool = typer.Option(False, "--json", help="Print the API's JSON response instead of a table."),
) -> None:
    """Search INDEX for QUERY and print the hits: rank, id, language, score, title, per-retriever ranks.

    Example: passerelle search "how do glaciers melt" --index indexes/sample --filter "year>=2021"
    --filter "topic in climate,nature" --fields lang,title,snippet,sources,metadata
    """
    import dataclasses

    from rich.console import Console

    from passerelle.commands.common import fail_on_error, offline_environment, setup_logging
    from passerelle.service.api.schemas import SearchResponse
    from passerelle.service.api.settings import index_name
    from passerelle.service.filters import parse_filter_text

    offline_environment()
    with fail_on_error():
        condition = parse_filter_text(filters or [])
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
            offset=offset,
            fields=[f.strip() for f in fields.split(",") if f.strip()] if fields else None,
            explain=explain,
        )
        # command-line values are text: the searcher reads them with each field's type (lenient)
        params = dataclasses.replace(request.to_params(), filter=condition, lenient_filter=True)
        setup_logging("WARNING")
        from passerelle.service.searcher import Searcher

        searcher = Searcher.open(index)
        try:
            result = searcher.search(request.query, params)
        finally:
            searcher.index.close()
        response = SearchResponse.from_result(index_name(index), result, request.hit_fields())
    if as_json:
        typer.echo(response.model_dump_json(indent=2, exclude_unset=True))
        return
    render(response, explain=explain, console=Console())
