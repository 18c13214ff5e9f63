from __future__ import annotations

from pathlib import Path

import pytest

from finrisk.config import init_workspace, load_workspace
from finrisk.errors import WorkspaceError


def test_init_makes_a_loadable_workspace(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    assert (tmp_path / "ws" / "finrisk.toml").is_file()
    assert "transaction" in ws.event_types
    assert len(ws.features) >= 40  # the demo feature set, ready to edit
    again = load_workspace(tmp_path / "ws")
    assert again.settings.store.durability == "fsync"
    assert again.log_dir == (tmp_path / "ws" / "data" / "log").resolve()


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    init_workspace(tmp_path)
    with pytest.raises(WorkspaceError, match=r"finrisk.toml already exists; use --force"):
        init_workspace(tmp_path)


def test_missing_workspace_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match=r"no finrisk.toml in .*run 'finrisk init"):
        load_workspace(tmp_path)


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    init_workspace(tmp_path)
    cfg = tmp_path / "finrisk.toml"
    cfg.write_text('[workspace]\nname = "x"\n[store\n')
    with pytest.raises(WorkspaceError, match=r"finrisk.toml:3: TOML syntax error"):
        load_workspace(tmp_path)


def test_bad_setting_names_key_line_and_value(tmp_path: Path) -> None:
    init_workspace(tmp_path)
    cfg = tmp_path / "finrisk.toml"
    text = cfg.read_text().replace('durability = "fsync"', 'durability = "maybe"')
    cfg.write_text(text)
    line = text.splitlines().index(next(s for s in text.splitlines() if s.startswith("durability"))) + 1
    with pytest.raises(WorkspaceError, match=rf"finrisk.toml:{line}: store.durability: .*'fsync' or 'os', got 'maybe'"):
        load_workspace(tmp_path)


def test_unknown_setting_is_rejected(tmp_path: Path) -> None:
    init_workspace(tmp_path)
    cfg = tmp_path / "finrisk.toml"
    cfg.write_text(cfg.read_text().replace("[store]\n", "[store]\ncolour = 1\n"))
    with pytest.raises(WorkspaceError, match=r"finrisk.toml:\d+: store.colour: unknown key 'colour'"):
        load_workspace(tmp_path)


def test_event_type_file_errors_name_the_workspace_file(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path)
    (tmp_path / "event_types.yaml").write_text("event_types:\n  login:\n    fields:\n      a: {type: nope}\n")
    ws = load_workspace(tmp_path)
    with pytest.raises(WorkspaceError, match=r"^event_types.yaml:4: event type 'login', fields.a.type"):
        _ = ws.event_types


def test_missing_event_types_file(tmp_path: Path) -> None:
    init_workspace(tmp_path)
    (tmp_path / "event_types.yaml").unlink()
    with pytest.raises(WorkspaceError, match=r"events.types: no file matches 'event_types.yaml'"):
        _ = load_workspace(tmp_path).event_types
