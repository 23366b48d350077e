"""`passerelle fusion`: fit and study language-aware fusion profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="Fit, inspect and ablate the language-aware fusion profiles of hybrid search.", no_args_is_help=True
)

PAIR_HELP = "COLLECTION_DIR=INDEX_DIR (repeatable): a dev collection and an index of its corpus."
Pairs = Annotated[list[str] | None, typer.Option("--pair", help=PAIR_HELP)]
Data = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Instead of --pair: every dev collection in this folder (e.g. ../shared/data), indexed with each "
        "--encoder under --workdir (built when missing; corpora with translations also without them).",
    ),
]
Encoders = Annotated[list[str] | None, typer.Option("--encoder", help="With --data: encoder(s) (repeatable).")]
Workdir = Annotated[Path, typer.Option("--workdir", help="With --data: indexes and evidence go here.")]
Cache = Annotated[Path | None, typer.Option("--cache", help="With --pair: folder caching each pair's evidence.")]


def _evidence(
    pairs: list[str] | None,
    cache_dir: Path | None,
    depth: int,
    data: Path | None = None,
    encoders: list[str] | None = None,
    workdir: Path = Path(".passerelle/fusion"),
) -> dict[str, Any]:
    """Evidence of every --pair, or of every dev collection of --data with each encoder."""
    from passerelle.eval.collections import load_collection
    from passerelle.eval.dev_pairs import dev_evidence
    from passerelle.eval.fusion_evidence import collect_evidence
    from passerelle.indexing.defaults import DEFAULT_ENCODER
    from passerelle.indexing.errors import ConfigError

    if bool(pairs) == (data is not None):
        raise ConfigError("give --pair COLLECTION=INDEX (repeatable) or --data FOLDER, not both")
    if data is not None:
        evidence: dict[str, Any] = {}
        for encoder in encoders or [DEFAULT_ENCODER]:
            evidence.update(dev_evidence(data, workdir, encoder, depth=depth, progress=True))
        return evidence
    evidence = {}
    for pair in pairs or []:
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
    pair: Pairs = None,
    data: Data = None,
    encoder: Encoders = None,
    workdir: Workdir = Path(".passerelle/fusion"),
    out: Path = typer.Option(..., "--out", help="Where to write the fitted profile (JSON)."),
    name: str = typer.Option("default", "--name", help="Profile name."),
    penalty: float | None = typer.Option(
        None, "--penalty", help="Cost of each point below the best single retriever (default: the library's, 50)."
    ),
    passes: int | None = typer.Option(None, "--passes", help="Coordinate-ascent passes (default: 3)."),
    depth: int = typer.Option(100, "--depth", help="Candidates per retriever."),
    cache: Cache = None,
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
        evidence = _evidence(pair, cache, depth, data, encoder, workdir)
        baselines = fusion_cv.best_singles(fusion_cv.single_retrievers(evidence))
        tuning: dict[str, Any] = {"name": name}
        tuning.update({k: v for k, v in (("penalty", penalty), ("passes", passes)) if v is not None})
        profile, per = ff.tune_profile(evidence, baselines=baselines, **tuning)
        write_text_atomic(out, json.dumps(profile.to_dict(), indent=2) + "\n")
        reports = []
        for scheme in schemes:
            result = fusion_cv.cross_validate(evidence, scheme, **tuning)
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
    pair: Pairs = None,
    data: Data = None,
    encoder: Encoders = None,
    workdir: Workdir = Path(".passerelle/fusion"),
    profile: str = typer.Option("default", "--profile", help="Shipped profile name or profile JSON path."),
    depth: int = typer.Option(100, "--depth", help="Candidates per retriever."),
    cache: Cache = None,
    out: Path = typer.Option(None, "--out", help="Also write the Markdown table here."),
) -> None:
    """nDCG@10 of each retriever alone, naive fusion, and the profile with its signals added one by one."""
    from passerelle.commands.common import command_run

    with command_run("WARNING"):
        from passerelle.eval.fusion_ablation import ablation_table
        from passerelle.service.language_fusion import load_profile

        table = ablation_table(_evidence(pair, cache, depth, data, encoder, workdir), load_profile(profile))
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
