from __future__ import annotations

from pathlib import Path

import pytest

from footfall.config import Settings
from footfall.exceptions import ConfigurationError


def test_defaults_use_a_sqlite_file_in_the_data_directory(tmp_path: Path) -> None:
    settings = Settings.from_env({"FOOTFALL_DATA_DIR": str(tmp_path)})
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'footfall.db'}"
    assert settings.max_body_bytes == 20 * 1024
    assert settings.rate_limit_per_second == 0


def test_values_are_read_and_bad_ones_fail_loudly() -> None:
    settings = Settings.from_env({"FOOTFALL_MAX_BODY_BYTES": "100", "FOOTFALL_RATE_LIMIT": "350"})
    assert (settings.max_body_bytes, settings.rate_limit_per_second) == (100, 350)
    with pytest.raises(ConfigurationError, match="FOOTFALL_MAX_BODY_BYTES"):
        Settings.from_env({"FOOTFALL_MAX_BODY_BYTES": "lots"})
    with pytest.raises(ConfigurationError, match="FOOTFALL_DATABASE_URL"):
        Settings.from_env({"FOOTFALL_DATABASE_URL": "mysql://x"})


def test_the_connection_pool_is_configurable_and_never_empty() -> None:
    settings = Settings.from_env(
        {"FOOTFALL_DB_POOL_SIZE": "3", "FOOTFALL_DB_POOL_TIMEOUT_SECONDS": "0.5"}
    )
    assert (settings.db_pool_size, settings.db_pool_timeout_seconds) == (3, 0.5)
    assert Settings.from_env({}).db_pool_size == 8
    with pytest.raises(ConfigurationError, match="FOOTFALL_DB_POOL_SIZE"):
        Settings.from_env({"FOOTFALL_DB_POOL_SIZE": "0"})


@pytest.mark.parametrize(
    ("url", "label"),
    [
        ("postgresql://ff:s3cr3t@db:5432/ff", "postgresql://ff@db:5432/ff"),
        (
            "postgresql://db/ff?sslmode=require&password=s3cr3t",
            "postgresql://db/ff?sslmode=require",
        ),
        ("postgres://ff@db/ff", "postgres://ff@db/ff"),
        ("sqlite:////srv/ff.db", "sqlite:////srv/ff.db"),
    ],
)
def test_the_database_label_shows_no_password(url: str, label: str) -> None:
    assert Settings.from_env({"FOOTFALL_DATABASE_URL": url}).database_label() == label


def test_a_relative_sqlite_url_is_labelled_with_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"FOOTFALL_DATABASE_URL": "sqlite:///rel/ff.db"})
    assert settings.sqlite_path == tmp_path / "rel" / "ff.db"
    assert settings.database_label() == f"sqlite:///{tmp_path / 'rel' / 'ff.db'}"


def test_the_registry_growth_caps_are_configurable_and_never_negative() -> None:
    defaults = Settings.from_env({})
    assert (defaults.max_new_event_types_per_day, defaults.max_new_param_names_per_day) == (
        1000,
        10_000,
    )
    settings = Settings.from_env(
        {"FOOTFALL_MAX_NEW_EVENT_TYPES_PER_DAY": "0", "FOOTFALL_MAX_NEW_PARAM_NAMES_PER_DAY": "50"}
    )
    assert (settings.max_new_event_types_per_day, settings.max_new_param_names_per_day) == (0, 50)
    with pytest.raises(ConfigurationError, match="FOOTFALL_MAX_NEW_PARAM_NAMES_PER_DAY"):
        Settings.from_env({"FOOTFALL_MAX_NEW_PARAM_NAMES_PER_DAY": "-1"})
