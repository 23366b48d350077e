"""`passerelle fusion`: fit and study language-aware fusion profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

app = typer.Typer(
    help="Fit, inspect and ablate the language-aware fusion profiles of hybrid search.", no_args_is_help=True
)

PAIR_HELP = "COLLECTION_DIR=INDEX_DIR (repeatable): a dev collection and an index of its corpus."


def _evidence(pairs: list[str], cache_dir: Path | None, depth: int) -> dict[str, Any]:
    from passerelle.eval.collections import load_collection
    from passerelle.eval.fusion_evidence import collect_evidence
    from passerelle.indexing.errors import ConfigError

    evidence = {}
    for pair in pairs:
        collection_dir, sep, index_dir = pair.partition("=")
        if not sep:
            raise ConfigError(f"--pair {pair!r}: expected COLLECTION_DIR=INDEX_DIR")
        collection = load_collection(collection_dir)
        name = f"{collection.name}@{Path(index_dir).name}"
        cache = cache_dir / f"{name}.json" if cache_dir else None
        evidence[name] = collect_evidence(Path(index_dir), collection, depth=depth, cache=cache)
    return evidence


@app.command("fit")
def fit(
    pair: list[str] = typer.Option(..., "--pair", help=PAIR_HELP),
    out: Path = typer.Option(..., "--out", help="Where to write the fitted profile (JSON)."),
    name: str = typer.Option("default", "--name", help="Profile name."),
    penalty: float = typer.Option(50.0, "--penalty", help="Cost of each point below the best single retriever."),
    passes: int = typer.Option(3, "--passes", help="Coordinate-ascent passes."),
    depth: int = typer.Option(100, "--depth", help="Candidates per retriever."),
    cache: Path = typer.Option(None, "--cache", help="Folder caching each pair's retrieval evidence."),
    cv: list[str] = typer.Option(
        [],
        "--cv",
        help="Also score the fit out of fold: leave-pair-out and/or leave-family-out (repeatable); the "
        "report goes beside --out as <out>.cv.json and .md.",
    ),
) -> None:
    """Fit a profile on dev collections (every collection weighs the same) and write it as JSON.

    The nDCG@10 it prints for the fitted profile is in-sample (fitted and scored on the same queries);
    --cv gives the out-of-fold numbers. Copy the profile into service/profiles/ to ship it, or point
    `service.fusion_profile` at the file.
    """
    import json

    from passerelle.commands.common import command_run

    with command_run("WARNING"):
        from passerelle.eval import fusion_cv
        from passerelle.eval import fusion_fit as ff
        from passerelle.indexing.atomic_files import write_text_atomic
        from passerelle.indexing.choices import checked_choice

        schemes = [checked_choice(scheme, fusion_cv.Scheme, "--cv") for scheme in cv]
        evidence = _evidence(pair, cache, depth)
        dense, bm25 = fusion_cv.single_retrievers(evidence)
        baselines = {c: max(dense[c], bm25[c]) for c in evidence}
        profile, per = ff.tune_profile(evidence, baselines=baselines, name=name, penalty=penalty, passes=passes)
        write_text_atomic(out, json.dumps(profile.to_dict(), indent=2) + "\n")
        reports = []
        for scheme in schemes:
            result = fusion_cv.cross_validate(evidence, scheme, name=name, penalty=penalty, passes=passes)
            reports.append(result)
    for c, value in per.items():
        typer.echo(f"{c}: nDCG@10 {value:.4f} in-sample (best single retriever {baselines[c]:.4f})")
    typer.echo(f"wrote {out}")
    if reports:
        markdown = "\n\n".join(result.to_markdown() for result in reports)
        write_text_atomic(out.with_suffix(".cv.md"), markdown + "\n")
        write_text_atomic(
            out.with_suffix(".cv.json"), json.dumps([result.to_dict() for result in reports], indent=1) + "\n"
        )
        typer.echo(markdown)
        typer.echo(f"wrote {out.with_suffix('.cv.md')} and {out.with_suffix('.cv.json')}")


@app.command("ablate")
def ablate(
    pair: list[str] = typer.Option(..., "--pair", help=PAIR_HELP),
    profile: str = typer.Option("default", "--profile", help="Shipped profile name or profile JSON path."),
    depth: int = typer.Option(100, "--depth", help="Candidates per retriever."),
    cache: Path = typer.Option(None, "--cache", help="Folder caching each pair's retrieval evidence."),
    out: Path = typer.Option(None, "--out", help="Also write the Markdown table here."),
) -> None:
    """nDCG@10 of each retriever alone, naive fusion, and the profile with its signals added one by one."""
    from passerelle.commands.common import command_run

    with command_run("WARNING"):
        from passerelle.eval.fusion_ablation import ablation_table
        from passerelle.service.language_fusion import load_profile

        table = ablation_table(_evidence(pair, cache, depth), load_profile(profile))
    typer.echo(table)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        from passerelle.indexing.atomic_files import write_text_atomic

        write_text_atomic(out, table + "\n")


@app.command("show")
def show(profile: str = typer.Argument("default", help="Shipped profile name or profile JSON path.")) -> None:
    """Print a fusion profile: its coefficients and what it was fitted on."""
    import json

    from passerelle.commands.common import fail_on_error

    with fail_on_error():
        from passerelle.service.language_fusion import load_profile

        typer.echo(json.dumps(load_profile(profile).to_dict(), indent=2))
