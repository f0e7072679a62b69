"""Settings: YAML, then DOCKYARD__ env, then explicit overrides; unknown keys are errors.
Plus the command line that reads them (`config verify`, `migrate`, `--help`)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.capabilities import REGISTERED, migration_branches
from dockyard.config import (
    FilesystemStorage,
    MemoryStorage,
    S3Storage,
    load_settings,
)
from dockyard.errors import ConfigError
from dockyard.metadata.sql import SqlMetadataStore


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No DOCKYARD settings leak in from the environment running the tests."""
    for var in list(os.environ):
        if var.startswith("DOCKYARD"):
            monkeypatch.delenv(var)
    yield


def write(tmp_path: Path, text: str, name: str = "dockyard.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# -- sources and precedence ----------------------------------------------------


def test_yaml_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
        data_dir: {tmp_path}/data
        server:
          host: 127.0.0.1
          port: 6000
          log_format: text
        cache:
          enabled: false
        registry:
          delete_enabled: false
        """,
    )
    s = load_settings(path)
    assert s.data_dir == tmp_path / "data"
    assert s.server.host == "127.0.0.1"
    assert s.server.port == 6000
    assert s.server.log_format == "text"
    assert s.cache.enabled is False
    assert s.registry.delete_enabled is False
    # untouched sections keep their defaults
    assert s.database.pool_size == 10


def test_empty_yaml_is_all_defaults(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, ""), {"data_dir": tmp_path})
    assert s.server.port == 5000


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_CONFIG", str(write(tmp_path, "server: {port: 6100}")))
    assert load_settings().server.port == 6100


def test_env_beats_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "server: {port: 6000, host: 127.0.0.1}")
    monkeypatch.setenv("DOCKYARD__SERVER__PORT", "7000")
    s = load_settings(path)
    assert s.server.port == 7000
    assert s.server.host == "127.0.0.1"  # the rest of the YAML section survives


def test_env_alone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKYARD__DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DOCKYARD__CACHE__TTL_SECONDS", "2.5")
    s = load_settings()
    assert s.data_dir == tmp_path
    assert s.cache.ttl_seconds == 2.5


def test_overrides_beat_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "server: {port: 6000, host: 127.0.0.1}")
    monkeypatch.setenv("DOCKYARD__SERVER__PORT", "7000")
    s = load_settings(path, {"server": {"port": 8000}})
    assert s.server.port == 8000
    assert s.server.host == "127.0.0.1"


def test_overrides_of_other_keys_keep_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD__SERVER__PORT", "7000")
    s = load_settings(None, {"server": {"workers": 2}})
    assert (s.server.port, s.server.workers) == (7000, 2)


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = load_settings(None, {"data_dir": tmp_path})
    with pytest.raises(ValueError):
        s.data_dir = Path("/elsewhere")  # type: ignore[misc]


# -- unknown keys and bad values -----------------------------------------------


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, "server: {port: 6000}\nbogus_section: 1\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(path)
    assert "bogus_section" in str(exc.value)
    assert "unknown key" in str(exc.value)
    assert str(path) in str(exc.value)


def test_unknown_nested_key(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  prot: 6000\n")
    with pytest.raises(ConfigError, match=r"server\.prot: unknown key"):
        load_settings(path)


def test_unknown_key_deeper_in_storage(tmp_path: Path) -> None:
    path = write(tmp_path, "storage: {driver: filesystem, rot: /x}\n")
    with pytest.raises(ConfigError, match="rot"):
        load_settings(path)


def test_unknown_env_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD__BOGUS", "1")
    with pytest.raises(ConfigError, match="DOCKYARD__BOGUS"):
        load_settings()


def test_unknown_env_key_in_known_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD__SERVER__PROT", "1")
    with pytest.raises(ConfigError, match=r"server\.prot"):
        load_settings()


def test_bad_env_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD__SERVER__PORT", "not-a-port")
    with pytest.raises(ConfigError, match=r"server\.port"):
        load_settings()


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("server: {port: 0}", "server.port"),
        ("server: {port: 70000}", "server.port"),
        ("server: {port: abc}", "server.port"),
        ("server: {log_level: loud}", "server.log_level"),
        ("database: {pool_size: 0}", "database.pool_size"),
        ("server: 5", "server"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(write(tmp_path, text))
    assert where in str(exc.value)


@pytest.mark.parametrize(
    "text",
    [
        "server: [\n",
        "server:\n  port: 1\n bad indent: 2\n",
        "a: b: c\n",
        "server: {port: 1}\n\tbad: 2\n",
    ],
)
def test_invalid_yaml(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_settings(path)
    assert "not valid YAML" in str(exc.value)
    assert str(path) in str(exc.value)
    assert "\n" not in str(exc.value)


def test_yaml_top_level_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(write(tmp_path, "- a\n- b\n"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "absent.yaml")


# -- storage: a discriminated union ----------------------------------------------


def test_storage_memory(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, "storage: {driver: memory}"))
    assert isinstance(s.storage, MemoryStorage)


def test_storage_filesystem(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, f"storage: {{driver: filesystem, root: {tmp_path}/blobs}}"))
    assert isinstance(s.storage, FilesystemStorage)
    assert s.storage_root == tmp_path / "blobs"


def test_storage_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD__STORAGE__DRIVER", "memory")
    assert isinstance(load_settings().storage, MemoryStorage)


def test_storage_unknown_driver(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(write(tmp_path, "storage: {driver: floppy}"))
    assert "storage" in str(exc.value)
    assert "floppy" in str(exc.value)


def test_storage_option_of_another_driver(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="root: unknown key"):
        load_settings(write(tmp_path, "storage: {driver: memory, root: /x}"))


# -- defaults ---------------------------------------------------------------------


def test_defaults(tmp_path: Path) -> None:
    s = load_settings(None, {"data_dir": tmp_path})
    assert s.database_url == f"sqlite:///{tmp_path / 'dockyard.db'}"
    assert isinstance(s.storage, FilesystemStorage)
    assert s.storage.root is None
    assert s.storage_root == tmp_path / "storage"
    assert s.server.port == 5000
    assert s.server.host == "0.0.0.0"
    assert s.auto_migrate is True  # SQLite migrates itself
    assert s.cache.enabled is True
    pg = load_settings(None, {"data_dir": tmp_path, "database": {"url": "postgresql://x@db/d"}})
    assert pg.auto_migrate is False  # PostgreSQL waits for `dockyard migrate`


def test_default_data_dir_is_absolute() -> None:
    s = load_settings()
    assert s.data_dir.is_absolute()
    assert s.database_url == f"sqlite:///{s.data_dir / 'dockyard.db'}"


def test_relative_data_dir_becomes_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(None, {"data_dir": "rel"})
    assert s.data_dir == tmp_path / "rel"


def test_database_url_setting_wins(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, "database: {url: 'postgresql://u@db/dockyard'}"))
    assert s.database_url == "postgresql://u@db/dockyard"


def test_url_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_DATABASE_URL", "postgresql://u@db:5432/dockyard")
    monkeypatch.setenv(
        "DOCKYARD_STORAGE_URL",
        "s3://images/reg/one?endpoint=http://127.0.0.1:9000&region=eu-west-1&path_style=true",
    )
    monkeypatch.setenv("DOCKYARD_REDIS_URL", "redis://127.0.0.1:6379/2")
    s = load_settings(write(tmp_path, "storage: {driver: memory}"), {"data_dir": tmp_path})
    assert s.database_url == "postgresql://u@db:5432/dockyard"
    assert s.redis.url == "redis://127.0.0.1:6379/2"
    assert isinstance(s.storage, S3Storage)
    assert (s.storage.bucket, s.storage.prefix) == ("images", "reg/one")
    assert s.storage.endpoint == "http://127.0.0.1:9000"
    assert s.storage.region == "eu-west-1" and s.storage.path_style is True


def test_url_environment_file_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_STORAGE_URL", f"file://{tmp_path}/blobs")
    s = load_settings(overrides={"data_dir": tmp_path})
    assert isinstance(s.storage, FilesystemStorage) and s.storage_root == tmp_path / "blobs"
    # DOCKYARD__ variables still win over the URL form
    monkeypatch.setenv("DOCKYARD__STORAGE__FSYNC", "false")
    assert load_settings(overrides={"data_dir": tmp_path}).storage.fsync is False  # type: ignore[union-attr]
    for bad in ("ftp://x/y", "file://relative/path", "s3:///nobucket", "s3://b/p?colour=red"):
        monkeypatch.setenv("DOCKYARD_STORAGE_URL", bad)
        with pytest.raises(ConfigError, match="DOCKYARD_STORAGE_URL"):
            load_settings(overrides={"data_dir": tmp_path})


# -- the command line ---------------------------------------------------------------


def dockyard(
    *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD")}
    return subprocess.run(
        [sys.executable, "-m", "dockyard", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


def test_cli_config_verify_good(tmp_path: Path) -> None:
    path = write(tmp_path, "server: {port: 6000}\nstorage: {driver: memory}\n")
    res = dockyard("config", "verify", str(path))
    assert res.returncode == 0, res.stderr
    assert "OK" in res.stdout


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("server: {prot: 6000}\n", "server.prot"),
        ("bogus: 1\n", "bogus"),
        ("server: [\n", "not valid YAML"),
        ("storage: {driver: floppy}\n", "floppy"),
        ("server: {port: -1}\n", "server.port"),
    ],
)
def test_cli_config_verify_bad(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path, text)
    res = dockyard("config", "verify", str(path))
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert needle in lines[0]
    assert "Traceback" not in res.stderr


def test_cli_config_verify_missing_file(tmp_path: Path) -> None:
    res = dockyard("config", "verify", str(tmp_path / "absent.yaml"))
    assert res.returncode == 1
    assert len(res.stderr.strip().splitlines()) == 1
    assert "absent.yaml" in res.stderr


@pytest.mark.parametrize(
    "args", [["--help"], ["serve", "--help"], ["config", "--help"], ["migrate", "--help"]]
)
def test_cli_help(args: list[str]) -> None:
    res = dockyard(*args)
    assert res.returncode == 0, res.stderr
    assert "Usage" in res.stdout


def test_cli_migrate_creates_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    res = dockyard("migrate", "--data-dir", str(data))
    assert res.returncode == 0, res.stderr
    assert (data / "dockyard.db").is_file()
    again = dockyard("migrate", "--data-dir", str(data))
    assert again.returncode == 0, again.stderr


def test_cli_migrate_concurrently(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "dockyard", "migrate", "--data-dir", str(data)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err

    async def schema_ok() -> None:
        store = SqlMetadataStore(f"sqlite:///{data / 'dockyard.db'}")
        try:
            # `dockyard migrate` applied the registered capabilities' branches too
            await store.check_schema(migration_branches(REGISTERED))
        finally:
            await store.close()

    asyncio.run(schema_ok())


def test_memory_storage_needs_one_worker(tmp_path: Path) -> None:
    base = {"data_dir": str(tmp_path), "storage": {"driver": "memory"}}
    with pytest.raises(ConfigError, match="workers: 1"):
        load_settings(overrides={**base, "server": {"workers": 2}})
    assert load_settings(overrides=base).server.workers == 1
