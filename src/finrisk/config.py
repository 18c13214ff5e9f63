"""Workspaces: a folder with ``finrisk.toml`` and declarative files.

``finrisk.toml`` says where the stores live and which files declare event types (later: features,
rules, models). :func:`load_workspace` validates it once into :class:`Settings`; a malformed file
gets a :class:`~finrisk.errors.WorkspaceError` naming the file, the line and the problem.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from finrisk._yamlfile import load_yaml
from finrisk.errors import WorkspaceError
from finrisk.events.registry import EventTypeRegistry, builtin_event_types_text

if TYPE_CHECKING:
    from finrisk.features.spec import FeatureSet

__all__ = ["CONFIG_FILE", "Settings", "Workspace", "init_workspace", "load_workspace"]

CONFIG_FILE = "finrisk.toml"
EVENT_TYPES_FILE = "event_types.yaml"
FEATURES_FILE = "features.yaml"
RULES_FILE = "rules.yaml"
LISTS_FILE = "lists.yaml"
SCORECARDS_FILE = "scorecards.yaml"
STATE_DIR = "state"
DATABASE_FILE = "finrisk.db"


class WorkspaceSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "finrisk"


class EventsSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    types: list[str] = Field(default_factory=lambda: [EVENT_TYPES_FILE], min_length=1)


class FeaturesSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    files: list[str] = Field(default_factory=lambda: [FEATURES_FILE])
    allowed_lateness_seconds: int = Field(
        default=3600, ge=0, description="out-of-order events up to this late get exact feature values"
    )


class StoreSection(BaseModel):
    """Where events live. ``type = "embedded"`` is the one-machine default (file log + Parquet)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["embedded"] = "embedded"
    log_dir: str = "data/log"
    warehouse_dir: str = "data/warehouse"
    durability: Literal["fsync", "os"] = Field(
        default="fsync",
        description="fsync: an acknowledged event survives power loss; os: it survives a killed process",
    )
    partition: Literal["day", "hour"] = "day"
    lateness_seconds: int = Field(
        default=3600, ge=0, description="a time partition closes this long after newer events arrive"
    )
    database_url: str | None = Field(
        default=None,
        description="relational store for lists, rule-set versions and audit; None: sqlite:///<workspace>/state/finrisk.db",
    )


class RulesSection(BaseModel):
    """The live rule set: its file seeds version 1; later versions are published (``finrisk rules``)."""

    model_config = ConfigDict(extra="forbid")
    file: str = RULES_FILE
    lists_file: str = Field(default=LISTS_FILE, description="lists the rules read, created at service start")
    ruleset: str | None = Field(default=None, description="the live rule set's name (default: the file's)")


class ServiceSection(BaseModel):
    """``finrisk serve`` defaults."""

    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)


class Settings(BaseModel):
    """The validated contents of ``finrisk.toml``."""

    model_config = ConfigDict(extra="forbid")
    workspace: WorkspaceSection = Field(default_factory=WorkspaceSection)
    events: EventsSection = Field(default_factory=EventsSection)
    features: FeaturesSection = Field(default_factory=FeaturesSection)
    store: StoreSection = Field(default_factory=StoreSection)
    rules: RulesSection = Field(default_factory=RulesSection)
    service: ServiceSection = Field(default_factory=ServiceSection)


def _toml_line(text: str, loc: tuple[str, ...]) -> int | None:
    """Best-effort line of a dotted key path in TOML text (tomllib keeps no positions)."""
    lines = text.splitlines()
    section_line = None
    if len(loc) >= 1:
        header = re.compile(r"^\s*\[\s*" + re.escape(loc[0]) + r"\s*\]")
        for i, line in enumerate(lines):
            if header.match(line):
                section_line = i
                break
    if section_line is not None and len(loc) >= 2:
        key = re.compile(r"^\s*" + re.escape(loc[1]) + r"\s*=")
        for i in range(section_line + 1, len(lines)):
            if lines[i].lstrip().startswith("["):
                break
            if key.match(lines[i]):
                return i + 1
        return section_line + 1
    if section_line is not None:
        return section_line + 1
    key0 = re.compile(r"^\s*" + re.escape(loc[0]) + r"\s*=") if loc else None
    for i, line in enumerate(lines):
        if key0 is not None and key0.match(line):
            return i + 1
    return None


def parse_settings(text: str, *, file: str) -> Settings:
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(m.group(1)) if m else None
        problem = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise WorkspaceError(f"TOML syntax error: {problem}", file=file, line=line) from None
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = tuple(str(p) for p in err["loc"])
        msg = f"unknown key {loc[-1]!r}" if err["type"] == "extra_forbidden" else err["msg"]
        got = err.get("input")
        if err["type"] != "extra_forbidden" and not isinstance(got, dict):
            msg = f"{msg}, got {got!r}"
        raise WorkspaceError(f"{'.'.join(loc)}: {msg}", file=file, line=_toml_line(text, loc)) from None


@dataclass
class Workspace:
    """A loaded workspace: its folder, settings and declared event types."""

    root: Path
    settings: Settings

    @cached_property
    def event_types(self) -> EventTypeRegistry:
        paths: list[Path] = []
        for pattern in self.settings.events.types:
            found = sorted(self.root.glob(pattern))
            if not found:
                raise WorkspaceError(
                    f"events.types: no file matches {pattern!r} in {self.root}", file=CONFIG_FILE
                )
            paths.extend(found)
        return EventTypeRegistry.from_files(paths, root=self.root)

    @cached_property
    def features(self) -> FeatureSet:
        """The declared features (an empty set when no features file exists yet)."""
        from finrisk.features.spec import FeatureSet, parse_features

        docs = [
            load_yaml(p, display_name=str(p.relative_to(self.root)))
            for pattern in self.settings.features.files
            for p in sorted(self.root.glob(pattern))
        ]
        if not docs:
            return FeatureSet(features=())
        if len(docs) > 1:
            merged: dict[str, Any] = {}
            for doc in docs:
                if not isinstance(doc.data, dict) or not isinstance(doc.data.get("features"), dict):
                    raise doc.error((), "expected a top-level 'features:' mapping")
                for name in doc.data["features"]:
                    if name in merged:
                        raise doc.error(("features", name), f"feature {name!r} is declared in two files")
                    merged[name] = doc
            sets = [parse_features(doc, self.event_types) for doc in docs]
            return FeatureSet(features=tuple(f for s in sets for f in s))
        return parse_features(docs[0], self.event_types)

    @property
    def log_dir(self) -> Path:
        return self.root / self.settings.store.log_dir

    @property
    def warehouse_dir(self) -> Path:
        return self.root / self.settings.store.warehouse_dir

    @property
    def database_url(self) -> str:
        """The relational store's URL: ``[store] database_url``, or a SQLite file in ``state/``."""
        configured = self.settings.store.database_url
        return configured if configured else f"sqlite:///{self.root / STATE_DIR / DATABASE_FILE}"


def load_workspace(path: Path | str = ".") -> Workspace:
    """Load the workspace in ``path`` (a folder holding ``finrisk.toml``)."""
    root = Path(path).resolve()
    config = root / CONFIG_FILE
    if not config.is_file():
        raise WorkspaceError(
            f"no {CONFIG_FILE} in {root}; run 'finrisk init {path}' to make a workspace, "
            "or pass --workspace DIR"
        )
    settings = parse_settings(config.read_text(encoding="utf-8"), file=str(config))
    return Workspace(root=root, settings=settings)


_TEMPLATE = """\
# finrisk workspace settings. Paths are relative to this folder.
[workspace]
name = "{name}"

[events]
# Files (globs allowed) that declare event types.
types = ["{event_types}"]

[features]
files = ["features.yaml"]        # feature declarations (globs allowed); see docs/features.md
allowed_lateness_seconds = 3600  # out-of-order events up to this late get exact feature values

[store]
type = "embedded"          # one machine: durable file log + Parquet warehouse queried by DuckDB
log_dir = "data/log"
warehouse_dir = "data/warehouse"
durability = "fsync"       # fsync: survives power loss; os: survives a killed process, faster
partition = "day"          # warehouse time partitions: day | hour
lateness_seconds = 3600    # a partition closes this long after newer events have arrived
# Lists, rule-set versions and the audit trail; default: a SQLite file state/finrisk.db.
# database_url = "postgresql+psycopg://user:password@host/finrisk"

[rules]
file = "rules.yaml"        # seeds version 1 of the live rule set; later versions: 'finrisk rules publish'
lists_file = "lists.yaml"  # lists the rules read (name, kind, field); created empty when the service starts

[service]
host = "127.0.0.1"         # 'finrisk serve' listens here
port = 8000
"""


#: Feature sets ``finrisk init --features NAME`` can start from (file in ``finrisk.features``).
FEATURE_SETS = {"demo": "demo_features.yaml", "handbook": "handbook_features.yaml"}


def demo_features_text(feature_set: str = "demo") -> str:
    """The YAML of a packaged feature set (what ``finrisk init`` writes as ``features.yaml``)."""
    if feature_set not in FEATURE_SETS:
        raise WorkspaceError(f"features: expected one of {', '.join(FEATURE_SETS)}, got {feature_set!r}")
    return resources.files("finrisk.features").joinpath(FEATURE_SETS[feature_set]).read_text("utf-8")


#: ``scorecards.yaml`` for the handbook feature set: its data has card payments only, no loan
#: applications, so no scorecard fits it (the demo cards read loan fields and demo features it lacks).
HANDBOOK_SCORECARDS = """\
# Credit scorecards of this workspace ('finrisk scoring train NAME'; see docs/scoring.md).
# None declared: the fraud-detection handbook's data holds card payments only, and a scorecard
# learns from loan applications and their default labels. Declare one here if you load those.
scorecards: {}
"""


def scorecards_text(feature_set: str = "demo") -> str:
    """The ``scorecards.yaml`` that matches a packaged feature set (its variables are declared there)."""
    if feature_set == "handbook":
        return HANDBOOK_SCORECARDS
    return resources.files("finrisk.scoring").joinpath("demo_scorecards.yaml").read_text("utf-8")


#: The rule set ``finrisk init --features NAME`` writes: rules read features, so each feature set has its own.
RULE_SETS = {"demo": "demo_rules.yaml", "handbook": "handbook_rules.yaml"}


def demo_rules_text(feature_set: str = "demo") -> str:
    """The YAML of the rule set that matches a packaged feature set (what ``finrisk init`` writes as ``rules.yaml``)."""
    if feature_set not in RULE_SETS:
        raise WorkspaceError(f"features: expected one of {', '.join(RULE_SETS)}, got {feature_set!r}")
    return resources.files("finrisk.rules").joinpath(RULE_SETS[feature_set]).read_text("utf-8")


#: The lists the demo rules read (``finrisk init`` writes this as ``lists.yaml``).
DEMO_LISTS = """\
# Lists the rules read, created (empty) when the service starts; entries are managed with
# 'finrisk lists add|remove|import' or the /v1/lists API, every change audited.
lists:
  blacklist:
    kind: black
    field: any
    description: Devices, accounts, IP addresses and receiving accounts refused outright.
  whitelist:
    kind: white
    field: customer_id
    description: Customers an investigator has cleared (their score is lowered; hard rules still apply).
"""


def init_workspace(path: Path | str, *, name: str | None = None, force: bool = False,
                   features: str = "demo") -> Workspace:
    """Create a workspace folder with ``finrisk.toml``, the built-in event types, demo features, rules and lists.

    ``features="handbook"`` starts from the card-payment features for the fraud-detection handbook's data.
    """
    root = Path(path)
    features_text = demo_features_text(features)
    config = root / CONFIG_FILE
    if config.exists() and not force:
        raise WorkspaceError(f"{config} already exists; use --force to overwrite the settings file")
    root.mkdir(parents=True, exist_ok=True)
    config.write_text(
        _TEMPLATE.format(name=name or root.resolve().name, event_types=EVENT_TYPES_FILE), encoding="utf-8"
    )
    types_file = root / EVENT_TYPES_FILE
    if not types_file.exists() or force:
        types_file.write_text(builtin_event_types_text(), encoding="utf-8")
    features_file = root / FEATURES_FILE
    if not features_file.exists() or force:
        features_file.write_text(features_text, encoding="utf-8")
    rules_file = root / RULES_FILE
    if not rules_file.exists() or force:
        rules_file.write_text(demo_rules_text(features), encoding="utf-8")
    lists_file = root / LISTS_FILE
    if not lists_file.exists() or force:
        lists_file.write_text(DEMO_LISTS, encoding="utf-8")
    scorecards_file = root / SCORECARDS_FILE
    if not scorecards_file.exists() or force:
        scorecards_file.write_text(scorecards_text(features), encoding="utf-8")
    return load_workspace(root)
