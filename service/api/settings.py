"""Settings of the HTTP service.

:class:`ServiceSettings` is a plain pydantic model: the one ``BaseSettings`` (environment variables,
config file) lives at the entry point, ``passerelle.settings``, and nests this model. Nothing is read
from the environment here; build the object and pass it to :func:`passerelle.service.api.app.create_app`.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from passerelle.service.fusion import DEFAULT_RRF_K, FusionMethod, Normalization
from passerelle.service.query_translation import ROUTE_PATTERN

Mode = Literal["dense", "sparse", "latent", "hybrid"]

MIN_API_KEY_CHARS = 16
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def index_name(path: Path) -> str:
    """The name an index directory is served under: its directory name (``.`` resolved first)."""
    return path.name or path.resolve().name


class ReplicaSettings(BaseModel):
    """Replicas of one kind of Ray Serve deployment (``passerelle serve --engine ray``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replicas: int = Field(
        1, ge=1, le=1000, description="Replicas of each such deployment (the minimum when autoscaling)."
    )
    max_replicas: int | None = Field(
        None,
        ge=1,
        le=1000,
        description=(
            "Autoscale between `replicas` and this many on the requests in flight per replica "
            "(`target_ongoing_requests`); null: a fixed number of replicas."
        ),
    )
    target_ongoing_requests: float = Field(2.0, gt=0, le=1000, description="Autoscaling target per replica.")
    cpus: float = Field(1.0, ge=0, le=1024, description="CPUs Ray reserves for each replica.")
    max_ongoing_requests: int = Field(16, ge=1, le=10_000, description="Requests one replica works on at once.")

    @model_validator(mode="after")
    def _check_range(self) -> ReplicaSettings:
        if self.max_replicas is not None and self.max_replicas < self.replicas:
            raise ValueError(f"max_replicas ({self.max_replicas}) is below replicas ({self.replicas})")
        return self

    def serve_options(self, *, min_ongoing: int = 1) -> dict[str, Any]:
        """The Ray Serve deployment options (``max_ongoing_requests`` at least ``min_ongoing``)."""
        options: dict[str, Any] = {
            "ray_actor_options": {"num_cpus": self.cpus},
            "max_ongoing_requests": max(self.max_ongoing_requests, min_ongoing),
        }
        if self.max_replicas is None:
            options["num_replicas"] = self.replicas
        else:
            options["autoscaling_config"] = {
                "min_replicas": self.replicas,
                "initial_replicas": self.replicas,
                "max_replicas": self.max_replicas,
                "target_ongoing_requests": self.target_ongoing_requests,
            }
        return options


class RaySettings(BaseModel):
    """How ``passerelle serve --engine ray`` lays an index out on Ray Serve (see docs/SCALING.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shards: ReplicaSettings = Field(
        default_factory=ReplicaSettings, description="Each shard deployment: its FAISS vectors and documents."
    )
    sparse: ReplicaSettings = Field(
        default_factory=ReplicaSettings, description="The BM25 deployment (a Lucene MultiReader over every shard)."
    )
    ingress: ReplicaSettings = Field(
        default_factory=ReplicaSettings,
        description=(
            "The HTTP ingress (this API; encodes queries, fans out, fuses); its max_ongoing_requests is raised "
            "to max_concurrency + 8 so that admission (503 + Retry-After) stays the app's."
        ),
    )
    shards_per_deployment: int = Field(1, ge=1, le=10_000, description="Shards one shard deployment holds.")
    call_timeout_s: float = Field(
        10.0, gt=0, le=3600, description="Deadline of one call to the shard or BM25 deployments, retries included."
    )
    call_attempts: int = Field(
        3, ge=1, le=20, description="Tries of a call whose replica died (each on another replica); then 503."
    )
    deploy_timeout_s: float = Field(
        600.0, gt=0, le=86_400, description="Longest wait for an index version's replicas to start (start, reload)."
    )
    health_check_period_s: float = Field(
        2.0,
        gt=0,
        le=600,
        description=(
            "How often Serve checks each shard and BM25 replica: a dead one is replaced, and /readyz says so, "
            "within about this long."
        ),
    )
    proxy_location: Literal["EveryNode", "HeadOnly"] = Field(
        "EveryNode",
        description=(
            "Where Serve runs its HTTP proxy (listening on host:port): on every node (put a load balancer in "
            "front) or on the head node only (one address; also for several nodes on one machine)."
        ),
    )


class ServiceSettings(BaseModel):
    """What the service loads, where it listens, and the limits it enforces on each request."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "indexes": ["indexes/clirudit"],
                    "host": "127.0.0.1",
                    "port": 8000,
                    "max_k": 100,
                    "cors_origins": ["http://localhost:3000"],
                    "default_mode": "hybrid",
                }
            ]
        },
    )

    indexes: list[Path] = Field(
        default_factory=list,
        description=("Index directories to load; each is served under its directory name, the first is the default."),
    )
    host: str = Field("127.0.0.1", description="Interface to bind; loopback unless you mean to expose it.")
    port: int = Field(8000, ge=1, le=65535)
    api_key: SecretStr | None = Field(
        None,
        description=(
            f"Key for the admin routes (X-API-Key header), at least {MIN_API_KEY_CHARS} characters. "
            "Without one the admin routes are disabled."
        ),
    )
    max_k: int = Field(100, ge=1, le=10_000, description="Largest k a request may ask for.")
    max_depth: int = Field(1000, ge=1, le=100_000, description="Largest candidate depth per retriever.")
    max_query_chars: int = Field(1000, ge=1, le=100_000, description="Longest query accepted.")
    max_batch: int = Field(256, ge=1, le=100_000, description="Most queries in one batch request.")
    max_body_bytes: int = Field(
        2 * 1024 * 1024,
        ge=1024,
        le=1 << 30,
        description=(
            "Largest request body accepted, in bytes; a larger one gets 413 before it is read. The default "
            "holds a full default batch (256 queries of 1000 characters) sent as ASCII JSON, 6 bytes a character."
        ),
    )
    max_concurrency: int = Field(
        256,
        ge=1,
        le=10_000,
        description=(
            "Hard bound on search requests in flight (admitted and not yet answered); more get 503 with "
            "Retry-After. Overload is normally refused earlier, by max_queue_wait_ms."
        ),
    )
    max_queue_wait_ms: int = Field(
        500,
        ge=0,
        le=3_600_000,
        description=(
            "Admission control: a search is refused at once (503 with Retry-After) when the wait predicted for "
            "it (requests in flight x the recent time between completions) is over this many milliseconds, so "
            "admitted requests stay fast and bursts the server can absorb are queued. 0: only max_concurrency."
        ),
    )
    retry_after_s: int = Field(
        1, ge=1, le=3600, description="Smallest Retry-After header value on 503 (the predicted wait when longer)."
    )
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description=(
            "A connection must deliver a request's whole head (request line and headers) within this many "
            "seconds of its first byte (or of connecting); otherwise it is closed (408): slow-loris headers and "
            "connections that never send anything do not hold the server."
        ),
    )
    body_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="A request's whole body must arrive within this many seconds after its head; otherwise 408.",
    )
    max_head_bytes: int = Field(
        16 * 1024,
        ge=1024,
        le=1 << 20,
        description="Largest request head (request line and headers) accepted, in bytes; a larger one gets 431.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description=("Origins allowed by CORS, e.g. 'https://example.org'; empty (the default) allows none."),
    )
    default_mode: Mode = "hybrid"
    default_k: int = Field(10, ge=1)
    default_fusion: FusionMethod = "auto"
    fusion_profile: str = Field(
        "default", description=("Fusion profile of fusion=auto: a shipped profile name or a profile JSON file path.")
    )
    default_normalization: Normalization = "minmax"
    default_rrf_k: int = Field(DEFAULT_RRF_K, ge=0, le=100_000)
    default_depth: int = Field(100, ge=1)
    verify: Literal["full", "size", "none"] = Field(
        "size",
        description=(
            "File checks each time an index is loaded or reloaded: 'size' (fast: catches missing and truncated "
            "files), 'full' (sha256 of every file: also catches same-size corruption; reads the whole index) or "
            "'none'."
        ),
    )
    query_threads: int | None = Field(
        1,
        ge=1,
        le=1024,
        description=(
            "CPU threads one search may use in the query encoder and FAISS. 1 (the default) suits a server: "
            "concurrent requests use the other cores, where more threads per query would oversubscribe them "
            "(measured: docs/BENCHMARKS.md). null: every core."
        ),
    )
    micro_batch: int = Field(
        16,
        ge=1,
        le=1024,
        description=(
            "Concurrent single-query requests are answered together in batches of up to this many queries "
            "(never waiting for a batch to fill); 1 answers each request on its own."
        ),
    )
    search_workers: int = Field(2, ge=1, le=256, description=("Threads answering those batches, per index."))
    search_threads: int | None = Field(
        None,
        ge=1,
        le=1024,
        description=(
            "Threads of this process's HTTP routes for searches and document fetches, kept for the app's "
            "life; admitted searches beyond them wait their turn (still counted by admission control). None "
            "(the default): 4 per core, at least 8. Searches are CPU-bound, and each runnable thread competes "
            "with the event loop for the GIL: with 40 (anyio's default) a burst at twice the capacity made "
            "refusals wait. Not used by the Ray ingress, whose threads wait on replicas."
        ),
    )
    query_translator: str | dict[str, str] | None = Field(
        None,
        description=(
            "Query translation for translate_query=true (BM25 on the query translated into the document "
            "languages): one Hugging Face seq2seq id or local path for every pair (NLLB, M2M), or one per pair "
            'as Marian models are: {"en-fr": "Helsinki-NLP/opus-mt-en-fr", "de": ..., "*": ...} (keys '
            "'src-tgt', 'tgt' or '*'; a view no model translates into gets the original query). None (the "
            "default): translate_query is refused."
        ),
    )
    docs_enabled: bool = Field(True, description="Serve the OpenAPI UI at /docs and /redoc.")
    ray: RaySettings = Field(
        default_factory=RaySettings, description="Replicas and limits when served on Ray Serve (--engine ray)."
    )

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            if not _HOSTNAME.match(value):
                raise ValueError(f"host {value!r} is neither an IP address nor a host name") from None
        return value

    @field_validator("query_translator")
    @classmethod
    def _check_query_translator(cls, value: str | dict[str, str] | None) -> str | dict[str, str] | None:
        if isinstance(value, dict):
            bad = [key for key in value if not ROUTE_PATTERN.match(key)]
            if bad or not value:
                raise ValueError(
                    f"query_translator routes must be keyed 'src-tgt' (en-fr), 'tgt' (fr) or '*', "
                    f"got {bad or 'no route'}"
                )
            empty = [key for key, model in value.items() if not model.strip()]
            if empty:
                raise ValueError(f"query_translator route(s) {empty} name no model")
        elif isinstance(value, str) and not value.strip():
            raise ValueError("query_translator is empty: give a model id or path, or leave it unset")
        return value

    @field_validator("api_key")
    @classmethod
    def _check_api_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        if len(secret) < MIN_API_KEY_CHARS or secret != secret.strip():
            raise ValueError(
                f"api_key must have at least {MIN_API_KEY_CHARS} characters and no surrounding spaces; "
                "generate one with `python -c 'import secrets; print(secrets.token_urlsafe())'`"
            )
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin == "*":
                raise ValueError(
                    "cors_origins '*' would let any web page query the service; list the origins explicitly"
                )
            parts = urlsplit(origin)
            if (
                parts.scheme not in ("http", "https")
                or not parts.netloc
                or parts.path not in ("", "/")
                or parts.query
                or parts.fragment
            ):
                raise ValueError(f"cors origin {origin!r} must look like 'https://host[:port]'")
        return [origin.rstrip("/") for origin in value]

    @field_validator("indexes")
    @classmethod
    def _check_indexes(cls, value: list[Path]) -> list[Path]:
        names = [index_name(path) for path in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(
                f"indexes are served by directory name and {duplicates} appears twice; rename one directory"
            )
        return value

    @model_validator(mode="after")
    def _check_defaults(self) -> ServiceSettings:
        if self.default_k > self.max_k:
            raise ValueError(f"default_k ({self.default_k}) is larger than max_k ({self.max_k})")
        if self.default_depth > self.max_depth:
            raise ValueError(f"default_depth ({self.default_depth}) is larger than max_depth ({self.max_depth})")
        return self

    @property
    def admin_enabled(self) -> bool:
        """Whether the admin routes are served (an API key is configured)."""
        return self.api_key is not None

    def index_names(self) -> list[str]:
        """Names the configured indexes are served under (their directory names), in order."""
        return [index_name(path) for path in self.indexes]
