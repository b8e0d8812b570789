"""What a browser submits for the editor's forms, built from the values the editor fills them with
(the same field names as bot/admin/templates/guides_*.html)."""

from __future__ import annotations

from typing import Any

from bot.guides.editing import CondRows


class FakeForm:
    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.fields = fields

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0] if values else default

    def getlist(self, name: str) -> list[str]:
        return list(self.fields.get(name, []))

    def set(self, name: str, *values: str) -> FakeForm:
        self.fields[name] = list(values)
        return self


def condition_fields(prefix: str, rows: CondRows) -> dict[str, list[str]]:
    if rows.complex:
        return {f"{prefix}.mode": ["keep"]}
    fields = {f"{prefix}.mode": [rows.mode]}
    for n, row in enumerate(rows.rows):
        fields[f"{prefix}.{n}.pick"] = [row.pick]
        fields[f"{prefix}.{n}.neg"] = ["1" if row.negated else "0"]
    return fields


def submitted(values: dict[str, Any]) -> FakeForm:
    """The form a browser sends back when nothing was changed."""
    fields: dict[str, list[str]] = {}
    for key, value in values.items():
        if key == "when":
            fields |= condition_fields("when", value)
        elif key == "choices":
            for n, choice in enumerate(value):
                fields |= {f"choice.{n}.{k}": [str(v)] for k, v in choice.items()}
        elif key == "materials":
            fields["materials"] = [m["id"] for m in value if m["used"]]
            for m in value:
                fields |= condition_fields(f"mat.{m['id']}", m["when"])
        elif isinstance(value, bool):
            if value:
                fields[key] = ["1"]
        else:
            fields[key] = [str(value)]
    return FakeForm(fields)
