"""`python -m bot enterprises import FILE`: enterprise profiles from the shared-data export into the
企业画像库, upserted by 统一社会信用代码.

Formats (README.md “企业画像导入”): CSV (UTF-8, with or without BOM; a header row of field names or
Chinese labels), JSON (an array of objects, or ``{"enterprises": [...]}``) and JSON Lines (.jsonl).
Records are streamed in batches of ``BATCH`` so a province-sized file does not sit in memory (JSON
arrays excepted: JSON has no streaming form, use JSON Lines for big exports).

Idempotent: each batch reads the stored rows of its codes, inserts the new ones, updates only those
whose values changed and leaves the rest alone, so importing the same file twice changes nothing.
A record with a bad value is rejected whole, with every reason; a code seen twice in one file is
rejected at its second occurrence. Unknown columns stop the import before anything is written:
a misspelt header must not silently drop a field.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine, bindparam, delete, insert, select, update

from bot.complaints.calendar import beijing_today
from bot.policies.enterprises import COLUMNS, Profile, Rejected, canonical_header, check_record
from bot.policies.models import Enterprise, EnterpriseList
from bot.store.models import utcnow

BATCH = 1000
ENTERPRISES = Enterprise.__table__
LISTS = EnterpriseList.__table__

Progress = Callable[[int, int], None]  # (done, total) in the file's own unit (bytes or records)


class ImportFileError(Exception):
    """The file as a whole cannot be imported; ``str()`` says why, in Chinese."""


@dataclass
class ImportReport:
    records: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.inserted + self.updated + self.unchanged

    def summary(self) -> str:
        return (f"共 {self.records} 条：新增 {self.inserted}，更新 {self.updated}，未变 {self.unchanged}，"
                f"拒绝 {len(self.rejected)}")


def _canonical(record: dict[str, Any], row: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    unknown = []
    for key, value in record.items():
        name = canonical_header(str(key))
        if name is None:
            unknown.append(str(key))
        else:
            out[name] = value
    if unknown:
        raise ImportFileError(
            f"第 {row} 行有不认识的列：{'、'.join(unknown)}（可用的列：{'、'.join(COLUMNS)}，或它们的中文名称）"
        )
    return out


def _csv_records(handle: BinaryIO, progress: Progress | None, total: int) -> Iterator[tuple[int, dict[str, Any]]]:
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    except UnicodeDecodeError as exc:
        raise ImportFileError("文件不是 UTF-8 编码（请从表格软件另存为“CSV UTF-8”）") from exc
    names = [canonical_header(h) for h in header]
    unknown = [h for h, n in zip(header, names, strict=True) if n is None and h.strip()]
    if unknown:
        raise ImportFileError(f"表头有不认识的列：{'、'.join(unknown)}（可用的列：{'、'.join(COLUMNS)}，或它们的中文名称）")
    duplicated = sorted({n for n in names if n and names.count(n) > 1})
    if duplicated:
        raise ImportFileError(f"表头中这些列出现了不止一次：{'、'.join(duplicated)}")
    try:
        for line, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                yield line, {"__error__": f"有 {len(cells)} 列，表头是 {len(header)} 列"}
                continue
            yield line, {n: c for n, c in zip(names, cells, strict=True) if n}
            if progress is not None and line % 200 == 0:
                progress(handle.tell(), total)
    except UnicodeDecodeError as exc:
        raise ImportFileError("文件不是 UTF-8 编码（请从表格软件另存为“CSV UTF-8”）") from exc
    except csv.Error as exc:
        raise ImportFileError(f"CSV 格式错误：{exc}") from exc


def _json_records(path: Path, progress: Progress | None) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        data = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportFileError(f"不是有效的 JSON：{exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("enterprises"), list):
        data = data["enterprises"]
    if not isinstance(data, list):
        raise ImportFileError("JSON 应为企业记录的数组，或 {\"enterprises\": [...]}")
    for index, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            yield index, {"__error__": "应为键值对（一个企业一条记录）"}
        else:
            yield index, _canonical(item, index)
        if progress is not None and index % 200 == 0:
            progress(index, len(data))


def _jsonl_records(handle: BinaryIO, progress: Progress | None, total: int) -> Iterator[tuple[int, dict[str, Any]]]:
    for line, raw in enumerate(handle, start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            yield line, {"__error__": "不是有效的 JSON"}
            continue
        yield line, _canonical(item, line) if isinstance(item, dict) else {"__error__": "应为键值对"}
        if progress is not None and line % 200 == 0:
            progress(handle.tell(), total)


def _same(a: Any, b: Any) -> bool:
    return a == b or (a is not None and b is not None and str(a) == str(b))


def _write_batch(engine: Engine, batch: list[Profile], report: ImportReport) -> None:
    codes = [p.uscc for p in batch]
    with engine.begin() as conn:
        # Only the columns some record of the batch carries: a file without a column leaves it alone.
        columns = sorted({k for p in batch for k in p.values})
        stored = {
            row.uscc: row for row in conn.execute(
                select(ENTERPRISES.c.id, ENTERPRISES.c.uscc, ENTERPRISES.c.name, *(ENTERPRISES.c[c] for c in columns))
                .where(ENTERPRISES.c.uscc.in_(codes))
            )
        }
        now = utcnow()
        new_rows, changed = [], []
        for p in batch:
            row = {"name": p.name, **p.values}
            old = stored.get(p.uscc)
            if old is None:
                new_rows.append({"uscc": p.uscc, "imported_at": now, "updated_at": now, **row})
            elif any(not _same(getattr(old, k), v) for k, v in row.items()):
                changed.append((old.id, row))
            else:
                report.unchanged += 1
        if new_rows:
            # executemany needs the same keys in every row
            keys = {k for r in new_rows for k in r}
            conn.execute(insert(ENTERPRISES), [{k: r.get(k) for k in keys} for r in new_rows])
            report.inserted += len(new_rows)
        for enterprise_id, row in changed:
            conn.execute(update(ENTERPRISES).where(ENTERPRISES.c.id == enterprise_id).values(**row, updated_at=now))
        report.updated += len(changed)
        with_lists = [p for p in batch if p.lists is not None]
        if with_lists:
            ids = dict(conn.execute(
                select(ENTERPRISES.c.uscc, ENTERPRISES.c.id).where(ENTERPRISES.c.uscc.in_([p.uscc for p in with_lists]))
            ).all())
            conn.execute(delete(LISTS).where(LISTS.c.enterprise_id.in_(list(ids.values()))))
            members = [{"eid": ids[p.uscc], "code": c} for p in with_lists for c in p.lists or []]
            if members:
                conn.execute(
                    insert(LISTS).values(enterprise_id=bindparam("eid"), list_code=bindparam("code")), members
                )


def import_file(engine: Engine, path: Path, today: date | None = None, progress: Progress | None = None) -> ImportReport:
    """Import ``path`` (.csv, .json or .jsonl) into ``enterprises``; see the module docstring."""
    today = today or beijing_today()
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json", ".jsonl"):
        raise ImportFileError(f"不支持的文件类型 “{path.suffix}”：请用 .csv、.json 或 .jsonl")
    report = ImportReport()
    seen: dict[str, int] = {}
    batch: list[Profile] = []
    total = path.stat().st_size
    with path.open("rb") as handle:
        if suffix == ".csv":
            records = _csv_records(handle, progress, total)
        elif suffix == ".jsonl":
            records = _jsonl_records(handle, progress, total)
        else:
            records = _json_records(path, progress)
        for row, record in records:
            report.records += 1
            if "__error__" in record:
                report.rejected.append(Rejected(row, None, [record["__error__"]]))
                continue
            checked = check_record(record, row, today)
            if isinstance(checked, Rejected):
                report.rejected.append(checked)
                continue
            if checked.uscc in seen:
                report.rejected.append(Rejected(row, checked.uscc, [f"与第 {seen[checked.uscc]} 行的统一社会信用代码重复"]))
                continue
            seen[checked.uscc] = row
            batch.append(checked)
            if len(batch) >= BATCH:
                _write_batch(engine, batch, report)
                batch = []
        if batch:
            _write_batch(engine, batch, report)
    if progress is not None:
        progress(total if suffix != ".json" else report.records, total if suffix != ".json" else report.records)
    return report
