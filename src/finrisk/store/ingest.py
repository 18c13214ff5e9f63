"""Loading files into the event log: CSV, JSON lines, Parquet, and simulator folders.

Rows are read in batches, converted (CSV values arrive as text), split into event body and
``label_*`` ground truth, validated by :class:`~finrisk.events.EventValidator` and appended to the
log one batch per transaction. Bad rows go to a JSON-lines rejects file (row number, the row with
personal-data fields hidden, every problem as field/expected/got); good rows load.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow.parquet as pq

from finrisk.config import Workspace
from finrisk.errors import EventValidationError, InputFileError, Problem, UnknownEventTypeError
from finrisk.events.schema import LABEL_PREFIX, FieldType
from finrisk.events.validate import EventValidator, describe_value
from finrisk.store._readers import FORMATS, Row, Unreadable, count_rows, read_batches
from finrisk.store.embedded_log import EmbeddedEventLog, open_log
from finrisk.store.handbook import PrevalidatedShape, Ready, handbook_batches, handbook_files, is_handbook
from finrisk.store.log import AppendStatus
from finrisk.store.warehouse import open_warehouse

__all__ = ["LoadProgress", "LoadSummary", "SIM_FORMAT", "load_path"]

#: ``manifest.json`` "format" of a folder written by ``finrisk simulate``.
SIM_FORMAT = "finrisk-sim"
_HIDDEN = "(hidden: personal data)"
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


#: Called after every batch with (rows done so far, total rows or None when unknown up front).
LoadProgress = Callable[[int, int | None], None]


@dataclass
class LoadSummary:
    """Counts of one load: every row read ends as loaded, duplicate, conflict or rejected."""

    files: list[Path] = field(default_factory=list)
    read: int = 0
    loaded: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0
    labels: int = 0
    reference_tables: list[str] = field(default_factory=list)
    rejects_path: Path | None = None
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0


Converter = Callable[[str], Any]


def _to_int(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        f = float(s)
        if not f.is_integer():
            raise
        return int(f)


def _to_bool(s: str) -> bool:
    low = s.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(s)


_CONVERT: dict[FieldType, tuple[Converter, str]] = {
    FieldType.INTEGER: (_to_int, "an integer"),
    FieldType.FLOAT: (float, "a number"),
    FieldType.BOOLEAN: (_to_bool, "true or false"),
}


def _guess(s: str) -> Any:
    """A label value from CSV text: int, float, true/false or the text itself."""
    for fn in (int, float):
        try:
            return fn(s)
        except ValueError:
            continue
    low = s.strip().lower()
    return True if low == "true" else False if low == "false" else s


class _Loader:
    """One load run: shared validator, log, rejects file and counters."""

    def __init__(
        self, workspace: Workspace, log: EmbeddedEventLog, *, rejects_path: Path, progress: LoadProgress | None
    ) -> None:
        self.registry = workspace.event_types
        self.validator = EventValidator(self.registry)
        self.log = log
        self.rejects_path = rejects_path
        self.progress = progress
        self.summary = LoadSummary()
        self.pii = frozenset().union(*(et.pii_fields for et in self.registry))
        self._rejects: IO[bytes] | None = None
        self._file = ""
        self.total: int | None = None
        self._converters: dict[str, dict[str, tuple[Converter, str, bool]]] = {
            et.name: {f.name: (*_CONVERT[f.type], f.pii) for f in et.fields if f.type in _CONVERT}
            for et in self.registry
        }

    def load_file(
        self, path: Path, *, event_type: str | None, batch_size: int, labels: Mapping[str, dict[str, Any]] | None
    ) -> None:
        self.summary.files.append(path)
        self._file = str(path)
        is_csv = path.suffix.lower() == ".csv"
        for batch in read_batches(path, batch_size=batch_size):
            self._load_batch(batch, event_type=event_type, is_csv=is_csv, labels=labels)
            if self.progress is not None:
                self.progress(self.summary.read, self.total)

    def _load_batch(
        self, batch: list[Row], *, event_type: str | None, is_csv: bool, labels: Mapping[str, dict[str, Any]] | None,
        ready: Sequence[Ready] | None = None,
    ) -> None:
        """``ready``: per row, its normal form and labels when the caller checked it already (handbook)."""
        events: list[dict[str, Any]] = []
        event_labels: list[dict[str, Any] | None] = []
        origin: list[tuple[int, dict[str, Any]]] = []
        for i, (number, raw) in enumerate(batch):
            self.summary.read += 1
            done = None if ready is None else ready[i]
            if done is not None:
                events.append(done[0])
                event_labels.append(done[1])
                origin.append((number, raw))  # type: ignore[arg-type]
                continue
            if isinstance(raw, Unreadable):
                self._reject(number, None, [Problem("(row)", raw.expected, raw.got)])
                continue
            body, found, problems = self._prepare(raw, event_type=event_type, is_csv=is_csv)
            try:
                event = self.validator.validate(body)
            except EventValidationError as exc:
                failed = {p.field for p in problems}
                problems += [p for p in exc.problems if p.field not in failed]
            except UnknownEventTypeError as exc:
                problems = [
                    Problem("event_type", f"one of {', '.join(sorted(exc.known))}", describe_value(exc.event_type))
                ]
            if problems:
                self._reject(number, raw, problems)
                continue
            if labels is not None:
                found = {**labels.get(event["event_id"], {}), **found}
            events.append(event)
            event_labels.append(found or None)
            origin.append((number, raw))
        if not events:
            return
        for result, (number, raw), lab in zip(
            self.log.append(events, labels=event_labels), origin, event_labels, strict=True
        ):
            if result.status is AppendStatus.STORED:
                self.summary.loaded += 1
                self.summary.labels += lab is not None
            elif result.status is AppendStatus.DUPLICATE:
                self.summary.duplicates += 1
            else:
                self.summary.conflicts += 1
                got = "an event_id already stored with a different body"
                self._reject(number, raw, [Problem("event_id", "a new event_id, or the same body as stored", got)])

    def _prepare(
        self, raw: dict[str, Any], *, event_type: str | None, is_csv: bool
    ) -> tuple[dict[str, Any], dict[str, Any], list[Problem]]:
        """Split labels off, fill the event type, convert CSV text; nulls are dropped (= absent)."""
        body: dict[str, Any] = {}
        found: dict[str, Any] = {}
        problems: list[Problem] = []
        for key, value in raw.items():
            if value is None or (is_csv and value == ""):
                continue
            if key.startswith(LABEL_PREFIX):
                found[key] = _guess(value) if is_csv and isinstance(value, str) else value
            else:
                body[key] = value
        if event_type is not None and not body.get("event_type"):
            body["event_type"] = event_type
        if not is_csv:
            return body, found, problems
        converters = self._converters.get(body.get("event_type"))  # type: ignore[arg-type]
        if converters is None:
            return body, found, problems
        for key in [k for k in body if k in converters]:
            convert, expected, pii = converters[key]
            value = body[key]
            if isinstance(value, str):
                try:
                    body[key] = convert(value)
                except ValueError:
                    problems.append(Problem(key, expected, describe_value(value, pii=pii)))
                    del body[key]
        return body, found, problems

    def _reject(self, number: int, raw: dict[str, Any] | None, problems: list[Problem]) -> None:
        self.summary.rejected += 1
        if self._rejects is None:
            self.rejects_path.parent.mkdir(parents=True, exist_ok=True)
            self._rejects = self.rejects_path.open("ab")
            self.summary.rejects_path = self.rejects_path
        row = (
            None
            if raw is None
            else {k: (_HIDDEN if k in self.pii and v not in (None, "") else v) for k, v in raw.items()}
        )
        record = {"file": self._file, "row": number, "data": row, "problems": [p.as_dict() for p in problems]}
        self._rejects.write(orjson.dumps(record, default=str) + b"\n")

    def close(self) -> None:
        if self._rejects is not None:
            self._rejects.close()


def load_path(
    workspace: Workspace,
    path: Path | str,
    *,
    event_type: str | None = None,
    rejects_path: Path | str | None = None,
    progress: LoadProgress | None = None,
    batch_size: int = 50_000,
    fraud_known_after: timedelta | None = timedelta(days=7),
) -> LoadSummary:
    """Load a file, a folder of files, a simulator folder or the fraud-detection handbook's card data
    (``.pkl`` per day or CSV with its ``TX_*`` columns, see :mod:`finrisk.store.handbook`) into the
    workspace's event log. ``fraud_known_after`` (handbook data only): each fraud also yields a
    ``chargeback`` that long after the transaction (``None``: none).

    Raises :class:`~finrisk.errors.InputFileError` when a file cannot be read at all.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: no such file or folder")
    if event_type is not None:
        workspace.event_types.get(event_type)  # unknown type: fail before reading anything
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    rejects = (
        Path(rejects_path) if rejects_path is not None else workspace.root / "rejects" / f"{path.stem}-{stamp}.jsonl"
    )
    started = time.perf_counter()
    with open_log(workspace) as log:
        loader = _Loader(workspace, log, rejects_path=rejects, progress=progress)
        handbook = not (path.is_dir() and _is_sim_folder(path)) and is_handbook(path)
        loader.total = None if handbook else _total_rows(path)
        try:
            if handbook:
                _load_handbook(loader, path, known_after=fraud_known_after, batch_size=batch_size)
            elif path.is_dir() and _is_sim_folder(path):
                _load_sim_folder(loader, workspace, log, path, batch_size=batch_size)
            elif path.is_dir():
                files = sorted(p for p in path.rglob("*") if p.suffix.lower() in FORMATS and p.is_file())
                if not files:
                    raise InputFileError(f"{path}: no {', '.join(sorted(FORMATS))} files in this folder")
                for f in files:
                    loader.load_file(f, event_type=event_type, batch_size=batch_size, labels=None)
            else:
                loader.load_file(path, event_type=event_type, batch_size=batch_size, labels=None)
        finally:
            loader.close()
    loader.summary.seconds = time.perf_counter() - started
    return loader.summary


def _total_rows(path: Path) -> int | None:
    """Rows to load when every file says (Parquet metadata), for an honest progress bar."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.suffix.lower() in FORMATS]
    total = 0
    for f in files:
        if "labels" in f.relative_to(path).parts[:1] or "reference" in f.relative_to(path).parts[:1]:
            continue
        n = count_rows(f) if f.suffix.lower() in FORMATS else None
        if n is None:
            return None
        total += n
    return total


def _load_handbook(loader: _Loader, path: Path, *, known_after: timedelta | None, batch_size: int) -> None:
    """The handbook's card data, converted a file at a time (see :mod:`finrisk.store.handbook`).

    Pickles do not say their row count up front, so the progress total is estimated from the files
    read so far (rows per file x files) and settles on the true count at the end.
    """
    n_files = len(handbook_files(path))
    number = 0
    shape = PrevalidatedShape.from_registry(loader.registry)
    for f, pairs in handbook_batches(path, known_after=known_after, batch_size=batch_size, shape=shape):
        if not loader.summary.files or loader.summary.files[-1] != f:
            loader.summary.files.append(f)
            loader._file = str(f)
            number = 0
        rows = [row for row, _ in pairs]
        loader._load_batch([(number + i + 1, row) for i, row in enumerate(rows)], event_type=None, is_csv=False,
                           labels=None, ready=[r for _, r in pairs])
        number += len(rows)
        done = len(loader.summary.files)
        loader.total = max(loader.summary.read, round(loader.summary.read / done * n_files))
        if loader.progress is not None:
            loader.progress(loader.summary.read, loader.total)
    loader.total = loader.summary.read
    if loader.progress is not None:
        loader.progress(loader.summary.read, loader.total)


def _is_sim_folder(path: Path) -> bool:
    manifest = path / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{manifest}: cannot read as JSON ({exc})") from None
    return isinstance(data, dict) and data.get("format") == SIM_FORMAT


def _load_sim_folder(
    loader: _Loader, workspace: Workspace, log: EmbeddedEventLog, root: Path, *, batch_size: int
) -> None:
    """events/<type>/part-*.{parquet,jsonl}, labels/<type>/part-*.parquet, reference/*.parquet."""
    events_dir = root / "events"
    for type_dir in sorted(p for p in events_dir.iterdir() if p.is_dir()) if events_dir.is_dir() else []:
        labels = _read_labels(root / "labels" / type_dir.name)
        for f in sorted(p for p in type_dir.glob("part-*") if p.suffix.lower() in FORMATS):
            loader.load_file(f, event_type=type_dir.name, batch_size=batch_size, labels=labels)
    warehouse = open_warehouse(workspace, log)
    for ref in sorted((root / "reference").glob("*.parquet")):
        try:
            table = pq.read_table(ref)
        except OSError as exc:
            raise InputFileError(f"{ref}: cannot read as parquet ({exc})") from None
        warehouse.put_reference(ref.stem, table)
        loader.summary.reference_tables.append(ref.stem)


def _read_labels(folder: Path) -> dict[str, dict[str, Any]] | None:
    """event_id -> {label_*: value} from a simulator labels folder (for JSON-lines events)."""
    files = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
    if not files:
        return None
    out: dict[str, dict[str, Any]] = {}
    for f in files:
        for row in _rows(f):
            eid = row.pop("event_id", None)
            if eid is not None:
                out[str(eid)] = {k: v for k, v in row.items() if k.startswith(LABEL_PREFIX) and v is not None}
    return out


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    try:
        yield from pq.read_table(path).to_pylist()
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read as parquet ({exc})") from None
