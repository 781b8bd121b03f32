"""config.yaml: errors come with file and line; values reach the settings."""
from __future__ import annotations

from pathlib import Path

import pytest

from agi.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_an_unknown_default_region_is_refused_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "log_level: INFO\ndefault_region: XX\n"))
    [error] = caught.value.errors
    assert (error.line, "unknown region 'XX'" in error.message) == (2, True)


def test_a_known_region_and_the_recording_settings_reach_the_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "default_region: GB\nrecordings: {directory: /srv/rec, format: gsm}\n"))
    assert (config.default_region, config.recordings.directory, config.recordings.format) == ("GB", "/srv/rec", "gsm")


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "flows: my-flows\ndatabase: var/cdr.db\n"))
    assert (config.flows, config.database) == (tmp_path / "my-flows", tmp_path / "var" / "cdr.db")
