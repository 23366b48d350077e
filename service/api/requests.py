"""Request models of the HTTP API (pydantic lives at the boundary only).

The request models here carry generous fixed bounds; :func:`request_models` derives, for one app, the
same models with that app's defaults and limits (``max_k``, ``max_query_chars``, ``max_batch``...), so
the limits show in the OpenAPI document and a request over them gets a 422 naming the field.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    create_model,
    field_validator,
    model_validator,
)

from passerelle.service.api.settings import Mode, ServiceSettings
from passerelle.service.errors import FilterError
from passerelle.service.filters import parse_filter
from passerelle.service.fusion import DEFAULT_RRF_K, FusionMethod, Normalization
from passerelle.service.language_fusion import shipped_profiles
from passerelle.service.searcher import SearchParams

_LANG_HELP = "ISO 639-1 (or 639-3) language code such as 'en', 'fr', 'de'"
# The OpenAPI document states the text rules exactly (as regular expressions both JSON Schema and Python
# read), so a client or a fuzzer can tell a valid request from an invalid one without asking the server.
# SPACE is exactly what ``str.strip()`` removes (``str.isspace``); CONTROL are the C0 controls but tab,
# line feed and carriage return, and DEL.
SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
TEXT_PATTERN = f"^[^{CONTROL}]*[^{CONTROL}{SPACE}][^{CONTROL}]*$"
LANG_PATTERN = f"^[{SPACE}]*[A-Za-z]{{2,3}}[{SPACE}]*$"
_LANG_CODE = re.compile(r"[A-Za-z]{2,3}")
_CONTROL = re.compile(f"[{CONTROL}]")

_RETRIEVER = r"^(dense|sparse(:[a-z]{2,3})?)$"
Retriever = Annotated[str, StringConstraints(pattern=_RETRIEVER)]
Weight = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
# pydantic documents the key pattern but not that other keys are refused: say it (additionalProperties).
Weights = Annotated[
    dict[Retriever, Weight],
    WithJsonSchema(
        {
            "type": "object",
            "patternProperties": {_RETRIEVER: {"type": "number", "minimum": 0.0}},
            "additionalProperties": False,
        }
    ),
]
_WEIGHTS_HELP = (
    "Weight per retriever (default 1.0 each): 'dense', 'sparse' (every language view) or one "
    "view such as 'sparse:fr', which takes precedence over 'sparse'."
)


def _lang_code(value: str) -> str:
    code = value.strip()
    if not _LANG_CODE.fullmatch(code):
        raise ValueError(f"{value!r} is not a language code; use an {_LANG_HELP}")
    return code.lower()


LangCode = Annotated[str, AfterValidator(_lang_code), WithJsonSchema({"type": "string", "pattern": LANG_PATTERN})]


def _integral(value: Any) -> Any:
    """JSON Schema's integers include ``10.0``; take it as ``10`` (strict bodies still refuse ``true`` and ``"10"``)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Count = Annotated[int, BeforeValidator(_integral)]


def _checked_filter(value: dict[str, Any]) -> dict[str, Any]:
    """The filter's shape, checked now (its fields are checked against the index when it is searched)."""
    try:
        parse_filter(value)
    except FilterError as exc:
        raise ValueError(str(exc)) from exc
    return value


def _json_object(value: Any) -> Any:
    """A query-string filter is JSON text: read it (a body's filter is already an object)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"filter is not valid JSON: {exc.msg} at column {exc.colno}") from exc
    return value


_FILTER_HELP = (
    "Only documents matching this filter, applied inside each retriever (the top k is exact under it). "
    'An object of conditions combined with AND: {"year": {"gte": 2015}, "journal": ["A", "B"]}. A field '
    "maps to a value (equality), a list (any of) or operators eq, in, gt, gte, lt, lte (int, float, date "
    'fields) and exists (true/false); "and"/"or" take a list of filters, "not" one. Dates are YYYY-MM-DD. '
    "The fields are the index's metadata fields (GET /v1/indexes: manifest.meta_fields) and lang; an unknown "
    "field or a value of the wrong type is a 422 naming it."
)
FilterObject = Annotated[
    dict[str, Any],
    AfterValidator(_checked_filter),
    Field(description=_FILTER_HELP, examples=[{"year": {"gte": 2015}}, {"not": {"lang": "fr"}}]),
]
HitField = Literal["lang", "title", "snippet", "text", "views", "metadata", "sources"]
DEFAULT_HIT_FIELDS: tuple[HitField, ...] = ("lang", "title", "snippet", "sources")


def _not_blank(text: str, field: str) -> str:
    """The query, checked, in Unicode NFC: "é" typed as e + U+0301 must find the "é" of the documents."""
    if not text.strip():
        raise ValueError(f"{field} is empty; send some text to search for")
    bad = _CONTROL.search(text)
    if bad:
        raise ValueError(f"{field} contains the control character U+{ord(bad.group()):04X}; send plain text")
    return unicodedata.normalize("NFC", text)


class SearchOptions(BaseModel):
    """Options shared by single and batch searches (see ``SearchParams`` in the searcher)."""

    model_config = ConfigDict(extra="forbid")

    index: str | None = Field(None, description="Name of the index to search; default: the first loaded.")
    mode: Mode = Field(
        "hybrid",
        description="dense (multilingual embeddings), sparse (BM25), latent (latent terms, when the index has "
        "them) or hybrid (all of the index's retrievers, fused).",
    )
    k: Count = Field(10, ge=1, le=10_000, description="Number of hits to return.")
    query_lang: LangCode | None = Field(None, description=f"{_LANG_HELP}; detected when absent.")
    doc_langs: list[LangCode] | None = Field(
        None, min_length=1, description="Only return documents in these languages (the filter lang in [...])."
    )
    filter: FilterObject | None = None
    offset: Count = Field(
        0,
        ge=0,
        le=100_000,
        description=(
            "Skip this many hits (paging): hits are ordered by score, then id, and every retriever takes at "
            "least offset + k candidates, so page n+1 continues page n; has_more says whether hits follow."
        ),
    )
    fields: list[HitField] | None = Field(
        None,
        min_length=1,
        description=(
            "Stored fields each hit carries besides id and score (and explanation when asked): "
            f"default {', '.join(DEFAULT_HIT_FIELDS)}; text (the full text), views (the other language versions) "
            "and metadata on request."
        ),
    )
    fusion: FusionMethod = Field(
        "auto",
        description=(
            "How hybrid mode fuses dense and sparse rankings: auto (language-aware weights from a fusion profile), "
            "rrf or linear (fixed weights)."
        ),
    )
    fusion_profile: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description=("Name of a shipped fusion profile for fusion=auto; default: the service's configured profile."),
    )
    normalization: Normalization = Field("minmax", description="Score normalization of linear fusion.")
    rrf_k: Count = Field(DEFAULT_RRF_K, ge=0, le=100_000, description="The k constant of RRF.")
    depth: Count = Field(100, ge=1, le=100_000, description="Candidates taken from each retriever.")
    explain: bool = Field(False, description="Return each hit's fusion arithmetic.")
    translate_query: bool = Field(
        False,
        description=(
            "BM25 searches the query machine-translated into each document language (cached); needs the "
            "service's query_translator, else 400."
        ),
    )

    @field_validator("depth")
    @classmethod
    def _depth_covers_k(cls, value: int, info: ValidationInfo) -> int:
        k = info.data.get("k")
        if k is not None and value < k:
            raise ValueError(f"depth ({value}) must be at least k ({k})")
        return value

    @model_validator(mode="after")
    def _default_depth_covers_k(self) -> SearchOptions:
        if self.depth < self.k:  # only reachable with the default depth: raise it to k
            self.depth = self.k
        return self

    def hit_fields(self) -> tuple[HitField, ...]:
        """The stored fields each hit carries (``fields``, or the default ones)."""
        return tuple(self.fields) if self.fields else DEFAULT_HIT_FIELDS

    def to_params(self) -> SearchParams:
        """The searcher's ``SearchParams`` for these options."""
        weights = getattr(self, "weights", None)  # not in GET's query string

        return SearchParams(
            mode=self.mode,
            k=self.k,
            offset=self.offset,
            query_lang=self.query_lang,
            doc_langs=frozenset(self.doc_langs) if self.doc_langs else None,
            filter=parse_filter(self.filter) if self.filter is not None else None,
            fusion=self.fusion,
            normalization=self.normalization,
            profile=self.fusion_profile,
            weights=dict(weights) if weights is not None else None,
            rrf_k=self.rrf_k,
            depth=self.depth,
            explain=self.explain,
            translate_query=self.translate_query,
        )


class SearchRequest(SearchOptions):
    """Body of ``POST /v1/search``."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "query": "effects of climate change on agriculture",
                    "mode": "hybrid",
                    "k": 10,
                    "query_lang": "en",
                    "doc_langs": ["fr"],
                    "filter": {"year": {"gte": 2015}},
                    "fusion": "rrf",
                    "explain": True,
                }
            ]
        },
    )

    query: str = Field(min_length=1, max_length=100_000, description="The question, in any language.")
    weights: Weights | None = Field(None, description=_WEIGHTS_HELP)

    @field_validator("query")
    @classmethod
    def _query_not_blank(cls, value: str) -> str:
        return _not_blank(value, "query")


class SearchQueryParams(SearchOptions):
    """Query string of ``GET /v1/search`` (the POST options except ``weights``; ``filter`` as JSON text)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"q": "effects of climate change on agriculture", "mode": "dense", "k": 5}]},
    )

    q: str = Field(min_length=1, max_length=100_000, description="The question, in any language.")
    filter: (
        Annotated[
            FilterObject,
            BeforeValidator(_json_object),
            WithJsonSchema(
                {
                    "type": "string",
                    "description": "The filter of POST /v1/search, as JSON text.",
                    "example": '{"year": {"gte": 2015}}',
                }
            ),
        ]
        | None
    ) = None

    @field_validator("q")
    @classmethod
    def _q_not_blank(cls, value: str) -> str:
        return _not_blank(value, "q")


class BatchSearchRequest(SearchOptions):
    """Body of ``POST /v1/search/batch``: several queries, one set of options."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {"queries": ["climate change and agriculture", "Wie wirkt Koffein?"], "mode": "hybrid", "k": 5}
            ]
        },
    )

    queries: list[Annotated[str, StringConstraints(max_length=100_000)]] = Field(
        min_length=1, max_length=100_000, description="The questions, in any language."
    )
    weights: Weights | None = Field(None, description=_WEIGHTS_HELP)

    @field_validator("queries")
    @classmethod
    def _queries_not_blank(cls, value: list[str]) -> list[str]:
        return [_not_blank(text, f"queries[{position}]") for position, text in enumerate(value)]


class RequestModels(NamedTuple):
    """The request models of one app, with its defaults and limits."""

    search: type[SearchRequest]
    query_params: type[SearchQueryParams]
    batch: type[BatchSearchRequest]


def _no_translation_model(value: bool) -> bool:
    if value:
        raise ValueError(
            "translate_query=true needs a query translation model, and this service has none: set "
            "service.query_translator (a Hugging Face id or local path)"
        )
    return value


def request_models(settings: ServiceSettings) -> RequestModels:
    """Derive the request models carrying ``settings``' defaults and limits."""
    s = settings
    common: dict[str, Any] = {
        "mode": (Mode, Field(s.default_mode, description=SearchOptions.model_fields["mode"].description)),
        "k": (Count, Field(s.default_k, ge=1, le=s.max_k, description="Number of hits to return.")),
        "fusion": (FusionMethod, Field(s.default_fusion, description="How hybrid mode fuses rankings.")),
        "normalization": (Normalization, Field(s.default_normalization, description="Linear fusion only.")),
        "rrf_k": (Count, Field(s.default_rrf_k, ge=0, le=100_000, description="The k constant of RRF.")),
        "depth": (Count, Field(s.default_depth, ge=1, le=s.max_depth, description="Candidates per retriever.")),
        # paging deeper than max_depth would make every retriever take that many candidates: bounded alike
        "offset": (Count, Field(0, ge=0, le=s.max_depth, description=SearchOptions.model_fields["offset"].description)),
        # the names a request may give are the shipped profiles: say so in the OpenAPI document (an enum)
        "fusion_profile": (
            Literal[tuple(shipped_profiles())] | None,
            Field(None, description=SearchOptions.model_fields["fusion_profile"].description),
        ),
    }
    if s.query_translator is None:  # the schema says what the service can do: no translation model, no QT
        common["translate_query"] = (
            Annotated[bool, AfterValidator(_no_translation_model)],
            Field(
                False,
                json_schema_extra={"enum": [False]},
                description=(
                    "Query translation is off: this service has no query translation model (service.query_translator)."
                ),
            ),
        )
    # one query: 1 to max_query_chars characters, not blank, no control character (TEXT_PATTERN says it)
    text = Annotated[
        str,
        StringConstraints(min_length=1, max_length=s.max_query_chars),
        Field(json_schema_extra={"pattern": TEXT_PATTERN}),
    ]
    search = create_model(
        "SearchRequest",
        __base__=SearchRequest,
        __module__=__name__,
        query=(text, Field(description="The question, in any language.")),
        **common,
    )
    query_params = create_model(
        "SearchQueryParams",
        __base__=SearchQueryParams,
        __module__=__name__,
        q=(text, Field(description="The question, in any language.")),
        **common,
    )
    batch = create_model(
        "BatchSearchRequest",
        __base__=BatchSearchRequest,
        __module__=__name__,
        queries=(list[text], Field(min_length=1, max_length=s.max_batch)),
        **common,
    )
    return RequestModels(search=search, query_params=query_params, batch=batch)
