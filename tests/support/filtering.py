"""A corpus with typed metadata of every kind, random filters over it, and a plain-Python evaluator of a
filter on one record: the reference the vectorized evaluation and the filtered retrievers are checked
against."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

from support import SAMPLE_DIR

FILTER_FIELDS = "year:int,score:float,topic:keyword,published:date,open:bool,tags:keyword[]"
TOPICS = ("climate", "food", "rail", "bees")
TAGS = ("a", "b", "c", "d")


def write_filter_corpus(path: Path, copies: int = 6, seed: int = 0) -> list[dict[str, Any]]:
    """The sample documents ``copies`` times (ids ``<id>~<copy>``, a word dropped from each copy's text and
    translation so copies differ a little) with random metadata; some values absent. Returns the records."""
    rng = random.Random(seed)
    base = [json.loads(line) for line in (SAMPLE_DIR / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    records = []
    for copy in range(copies):
        for doc in base:
            record = {
                "id": f"{doc['id']}~{copy}",
                "lang": doc["lang"],
                "title": doc["title"],
                "text": _drop_word(doc["text"], rng) if copy else doc["text"],
                "translations": {
                    "en": _drop_word(doc["translations"]["en"], rng) if copy else doc["translations"]["en"]
                },
                "year": rng.randint(2000, 2024),
                "score": round(rng.uniform(0, 10), 2),
                "topic": rng.choice(TOPICS),
                "published": (dt.date(2000, 1, 1) + dt.timedelta(days=rng.randrange(9000))).isoformat(),
                "open": rng.random() < 0.5,
                "tags": rng.sample(TAGS, rng.randint(0, 3)),
            }
            for name in ("year", "topic", "score"):  # some documents lack a field
                if rng.random() < 0.1:
                    del record[name]
            records.append(record)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return records


def _drop_word(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    words = lines[-1].split()
    del words[rng.randrange(len(words))]
    return "\n".join([*lines[:-1], " ".join(words)])


def random_condition(rng: random.Random) -> dict[str, Any]:
    """One condition on one field, in the JSON form."""
    kind = rng.choice(["year", "year_in", "score", "topic", "topic_in", "published", "open", "tags", "lang", "exists"])
    if kind == "year":
        low = rng.randint(2000, 2024)
        return {"year": {rng.choice(["gt", "gte"]): low, rng.choice(["lt", "lte"]): low + rng.randint(0, 12)}}
    if kind == "year_in":
        return {"year": rng.sample(range(2000, 2025), rng.randint(1, 6))}
    if kind == "score":
        return {"score": {rng.choice(["gt", "gte", "lt", "lte"]): round(rng.uniform(0, 10), 2)}}
    if kind == "topic":
        return {"topic": rng.choice(TOPICS)}
    if kind == "topic_in":
        return {"topic": {"in": rng.sample(TOPICS, 2)}}
    if kind == "published":
        day = dt.date(2000, 1, 1) + dt.timedelta(days=rng.randrange(9000))
        return {"published": {rng.choice(["gte", "lt"]): day.isoformat()}}
    if kind == "open":
        return {"open": rng.random() < 0.5}
    if kind == "tags":
        return {"tags": rng.choice([rng.choice(TAGS), {"in": rng.sample(TAGS, 2)}])}
    if kind == "lang":
        return {"lang": rng.sample(["fr", "de", "es"], rng.randint(1, 2))}
    return {rng.choice(["year", "topic", "tags"]): {"exists": rng.random() < 0.5}}


def random_filter(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    """A random filter: conditions combined with and, or and not, up to three levels deep."""
    roll = rng.random()
    if depth >= 2 or roll < 0.45:
        return random_condition(rng)
    if roll < 0.6:
        return {"not": random_filter(rng, depth + 1)}
    key = "and" if roll < 0.8 else "or"
    return {key: [random_filter(rng, depth + 1) for _ in range(rng.randint(2, 3))]}


def matches(record: dict[str, Any], node: dict[str, Any]) -> bool:
    """Whether ``record`` (as written to the corpus) satisfies the JSON filter ``node``."""
    results = []
    for key, value in node.items():
        if key == "and":
            results.append(all(matches(record, child) for child in value))
        elif key == "or":
            results.append(any(matches(record, child) for child in value))
        elif key == "not":
            results.append(not matches(record, value))
        else:
            results.append(_field_matches(record, key, value))
    return all(results)


def _field_matches(record: dict[str, Any], name: str, condition: Any) -> bool:
    stored = record.get(name)
    values = stored if isinstance(stored, list) else ([] if stored is None else [stored])
    if isinstance(condition, list):
        condition = {"in": condition}
    elif not isinstance(condition, dict):
        condition = {"eq": condition}
    outcome = True
    for op, operand in condition.items():
        if op == "exists":
            outcome &= bool(values) == operand
            continue
        tests = {
            "eq": lambda v, o=operand: v == o,
            "in": lambda v, o=operand: v in o,
            "gt": lambda v, o=operand: v > o,
            "gte": lambda v, o=operand: v >= o,
            "lt": lambda v, o=operand: v < o,
            "lte": lambda v, o=operand: v <= o,
        }
        outcome &= any(tests[op](v) for v in values)  # ISO dates compare as strings in date order
    return outcome
