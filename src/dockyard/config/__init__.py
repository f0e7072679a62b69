"""One typed settings tree: YAML file, then DOCKYARD__SECTION__KEY env overrides,
then command-line flags. Unknown keys anywhere are an error."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from dockyard.config.auth import AuthSettings
from dockyard.errors import ConfigError

if TYPE_CHECKING:
    from dockyard.capabilities import Capability

DEFAULT_DATA_DIR = (
    Path("/var/lib/dockyard")
    if os.geteuid() == 0
    else Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "dockyard"
)
CONFIG_ENV = "DOCKYARD_CONFIG"
DATABASE_URL_ENV = "DOCKYARD_DATABASE_URL"
STORAGE_URL_ENV = "DOCKYARD_STORAGE_URL"
REDIS_URL_ENV = "DOCKYARD_REDIS_URL"
MiB = 1 << 20


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(_Section):
    host: str = "0.0.0.0"
    port: int = Field(5000, ge=1, le=65535)
    # One Python worker whose HTTP runtime runs a thread per core measured as fast
    # as one process per core (bench/), at half the memory: see docs/operations.md.
    workers: int = Field(1, ge=1, le=64, description="worker processes")
    runtime_threads: int | None = Field(
        None, ge=1, le=64, description="HTTP I/O threads per worker; default: cores / workers"
    )
    graceful_timeout: int = Field(30, ge=1, description="seconds in-flight requests may finish")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"
    access_log: bool = False
    stream_slots: int = Field(
        1, ge=0, description="blob bodies a worker streams itself before using pathsend"
    )
    public_url: str | None = Field(None, description="absolute base URL for Location headers")
    trusted_proxies: list[str] = Field(
        [],
        description="addresses or networks (CIDR) of proxies in front (an Ingress, a load "
        "balancer) whose X-Forwarded-For names the client: throttling and the audit trail "
        "then see clients, not the proxy; from anyone else the header is ignored",
    )
    trusted_hosts: list[str] = Field(
        [],
        description="host names (fnmatch patterns, e.g. *.example.org) this server answers "
        "to besides its own; without public_url, a token realm or an origin is built from "
        "the request's Host only when it is one of these or a local name or address",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for entry in v:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an address or a network (CIDR)") from None
        return v


class FilesystemStorage(_Section):
    driver: Literal["filesystem"] = "filesystem"
    root: Path | None = Field(None, description="default: <data_dir>/storage")
    fsync: bool = Field(
        True,
        description="fsync blob data before acknowledging it; false survives a process "
        "crash but not a power loss (the reference registry never fsyncs)",
    )


class MemoryStorage(_Section):
    driver: Literal["memory"]


class S3Storage(_Section):
    """Any S3-compatible object store (AWS S3, MinIO, Ceph RGW, ...)."""

    driver: Literal["s3"]
    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = Field("", description="key prefix inside the bucket")
    region: str = "us-east-1"
    endpoint: str | None = Field(None, description="e.g. http://minio:9000; default: AWS")
    path_style: bool = Field(False, description="bucket in the path, not the host name")
    access_key_id: str | None = Field(None, description="default: AWS_ACCESS_KEY_ID etc.")
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    redirect: bool = Field(False, description="answer blob GETs with a presigned URL (307)")
    redirect_expiry_seconds: int = Field(1200, ge=60, le=7 * 24 * 3600)
    part_size: int = Field(16 * MiB, ge=5 * MiB, le=5 * 1024 * MiB)
    storage_class: (
        Literal[
            "STANDARD",
            "STANDARD_IA",
            "ONEZONE_IA",
            "INTELLIGENT_TIERING",
            "GLACIER_IR",
            "REDUCED_REDUNDANCY",
        ]
        | None
    ) = Field(
        None,
        description="the storage class objects are written with (a cold tier's "
        "STANDARD_IA or GLACIER_IR); default: the bucket's. Only classes read without a "
        "restore are offered: a blob must stream when a client asks for it",
    )


def _storage_driver(value: Any) -> str:
    """The union's tag; a section that leaves `driver` out means the default, filesystem
    (so `DOCKYARD__STORAGE__FSYNC=false` alone works)."""
    if isinstance(value, dict):
        return str(value.get("driver", "filesystem"))
    return str(getattr(value, "driver", "filesystem"))


StorageSettings = Annotated[
    Annotated[FilesystemStorage, Tag("filesystem")]
    | Annotated[MemoryStorage, Tag("memory")]
    | Annotated[S3Storage, Tag("s3")],
    Discriminator(_storage_driver),
]


class DatabaseSettings(_Section):
    url: str | None = Field(None, description="default: sqlite:///<data_dir>/dockyard.db")
    pool_size: int = Field(10, ge=1, le=200)
    auto_migrate: bool | None = Field(
        None,
        description="migrate on `serve` before workers start; default: yes on SQLite, no on "
        "PostgreSQL (run `dockyard migrate` once, e.g. as a Kubernetes Job)",
    )


class CacheSettings(_Section):
    enabled: bool = True
    max_entries: int = Field(10_000, ge=1)
    max_bytes: int = Field(64 * MiB, ge=MiB)
    ttl_seconds: float = Field(300.0, gt=0)


class RedisSettings(_Section):
    url: str | None = Field(
        None, description="redis://host:6379/0; enables the shared cache across replicas"
    )
    key_prefix: str = Field(
        "dockyard:", max_length=64, description="namespace for keys, to share one Redis safely"
    )


class RegistrySettings(_Section):
    delete_enabled: bool = True
    max_manifest_bytes: int = Field(4 * MiB, ge=1024)
    mount_without_from: bool = Field(
        True, description="POST ?mount= without from= links a blob the registry already has"
    )
    upload_lease_seconds: float = Field(
        20.0,
        gt=0,
        description="a writing request's hold on its upload, renewed 4 times per period "
        "while it streams; a holder on another host that stops renewing is taken over "
        "after this long (a dead one on the same host at once)",
    )
    upload_max_age_hours: float = Field(
        24.0, gt=0, description="uploads idle this long are purged with their data"
    )
    upload_purge_interval_seconds: float = Field(600.0, gt=0)
    pull_stats_flush_seconds: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="how often each process writes the manifest pulls it counted "
        "(pull count, last pulled) in one transaction",
    )
    pull_stats_max_pending: int = Field(
        1000, ge=1, description="artifacts counted in memory that trigger a flush before its time"
    )
    min_free_bytes: int = Field(
        16 * MiB,
        ge=0,
        description="/readyz fails while the disk of the storage folder or of SQLite has "
        "less free space than this",
    )


class JobsSettings(_Section):
    run_in_serve: bool = Field(
        True,
        description="each `dockyard serve` process also runs a worker; turn off when "
        "`dockyard worker` runs on its own (a separate Deployment)",
    )
    concurrency: int = Field(2, ge=1, le=64, description="jobs one worker runs at once")
    poll_seconds: float = Field(
        1.0, gt=0, le=60, description="how often an idle worker looks for due jobs and events"
    )
    lease_seconds: float = Field(
        60.0,
        ge=1,
        description="a worker's hold on a running job, renewed 3 times per period; a job "
        "whose worker died is taken up again after this long",
    )
    max_attempts: int = Field(5, ge=1, le=100, description="runs of a job before it fails")
    history_days: float = Field(
        14.0, gt=0, description="finished jobs (and their logs) are kept this long"
    )
    housekeeping_cron: str = Field(
        "17 * * * *", description="when old jobs and delivered events are purged"
    )


class EventsSettings(_Section):
    keep_days: float = Field(
        7.0,
        gt=0,
        description="events every consumer has handled are kept this long, then purged",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DOCKYARD__", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    data_dir: Path = DEFAULT_DATA_DIR
    server: ServerSettings = ServerSettings()
    storage: StorageSettings = FilesystemStorage()
    database: DatabaseSettings = DatabaseSettings()
    cache: CacheSettings = CacheSettings()
    redis: RedisSettings = RedisSettings()
    registry: RegistrySettings = RegistrySettings()
    auth: AuthSettings = AuthSettings()
    jobs: JobsSettings = JobsSettings()
    events: EventsSettings = EventsSettings()

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().absolute()

    @model_validator(mode="after")
    def _memory_needs_one_process(self) -> Settings:
        if isinstance(self.storage, MemoryStorage) and self.server.workers > 1:
            raise ValueError(
                "storage.driver memory keeps blobs inside one process: use server.workers: 1"
            )
        return self

    # -- derived ---------------------------------------------------------------

    def section(self, name: str) -> Any:
        """A capability's settings section (see dockyard.capabilities)."""
        return getattr(self, name)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'dockyard.db'}"

    @property
    def auto_migrate(self) -> bool:
        if self.database.auto_migrate is not None:
            return self.database.auto_migrate
        return self.database_url.startswith("sqlite")

    @property
    def storage_root(self) -> Path:
        if isinstance(self.storage, FilesystemStorage) and self.storage.root is not None:
            return self.storage.root.expanduser().absolute()
        return self.data_dir / "storage"

    @property
    def runtime_threads(self) -> int:
        cores = os.cpu_count() or 1
        return self.server.runtime_threads or max(1, cores // self.server.workers)


class _YamlSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        # one line: PyYAML's own message spans several, with a snippet and a caret
        mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        detail = " ".join(str(problem or exc).split())
        raise ConfigError(f"{where}: not valid YAML: {detail}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data


def _describe(exc: ValidationError, origin: str) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{loc}: {msg}")
    return f"{origin}: " + "; ".join(parts)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def url_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The twelve-factor URLs: DOCKYARD_DATABASE_URL, DOCKYARD_STORAGE_URL, DOCKYARD_REDIS_URL."""
    out: dict[str, Any] = {}
    if environ.get(DATABASE_URL_ENV):
        out["database"] = {"url": environ[DATABASE_URL_ENV]}
    if environ.get(REDIS_URL_ENV):
        out["redis"] = {"url": environ[REDIS_URL_ENV]}
    if environ.get(STORAGE_URL_ENV):
        try:
            out["storage"] = storage_from_url(environ[STORAGE_URL_ENV])
        except ValueError as exc:
            raise ConfigError(f"environment: {STORAGE_URL_ENV}: {exc}") from None
    return out


def storage_from_url(url: str) -> dict[str, Any]:
    """`file:///path` or `s3://bucket/prefix?endpoint=…&region=…&path_style=true`."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError("a file URL needs an absolute path: file:///var/lib/dockyard")
        return {"driver": "filesystem", "root": unquote(parts.path)}
    if parts.scheme == "memory":
        return {"driver": "memory"}
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError("an s3 URL names its bucket: s3://bucket/prefix")
        section: dict[str, Any] = {
            "driver": "s3",
            "bucket": parts.netloc,
            "prefix": unquote(parts.path.strip("/")),
        }
        known = {"endpoint", "region", "path_style", "redirect"}
        unknown = sorted(set(query) - known)
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(unknown)}")
        section.update(query)
        return section
    raise ValueError(f"unsupported scheme {parts.scheme!r} (file, s3 or memory)")


def settings_model(capabilities: Sequence[Capability]) -> type[Settings]:
    """Settings with a section per capability that brings one."""
    sections: dict[str, Any] = {
        c.name: (c.settings, c.settings()) for c in capabilities if c.settings is not None
    }
    if not sections:
        return Settings
    clash = sorted(set(sections) & set(Settings.model_fields))
    if clash:
        raise ConfigError(f"capability settings section {clash[0]!r} is a core section")
    model: type[Settings] = create_model("Settings", __base__=Settings, **sections)
    return model


def load_settings(
    path: Path | None = None,
    overrides: dict[str, Any] | None = None,
    capabilities: Sequence[Capability] | None = None,
) -> Settings:
    """Build settings from (lowest first) defaults, the YAML file, the URL variables,
    DOCKYARD__* variables, and `overrides` (command-line flags); with a section for
    each capability (default: every registered one) that brings settings."""
    if capabilities is None:
        from dockyard.capabilities import REGISTERED

        capabilities = REGISTERED
    model = settings_model(capabilities)
    if path is None and os.environ.get(CONFIG_ENV):
        path = Path(os.environ[CONFIG_ENV])
    data = read_yaml(path) if path is not None else {}
    data = _merge(data, url_environment(os.environ))

    class _Loaded(model):  # type: ignore[valid-type, misc]
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, _YamlSource(settings_cls, data))

    known = {name.upper() for name in model.model_fields}
    for var in os.environ:
        if var.startswith("DOCKYARD__") and var[10:].split("__", 1)[0] not in known:
            raise ConfigError(f"environment: {var}: unknown setting")
    try:
        loaded = _Loaded(**(overrides or {}))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(path) if path else "configuration")) from None
    return model.model_validate(loaded.model_dump())
