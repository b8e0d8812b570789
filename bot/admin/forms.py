"""The desk's HTML forms arrive urlencoded; read them without a multipart parser.

Every form of the desk is ``application/x-www-form-urlencoded`` (no file uploads), so the body is
read here with the standard library, at most 64 KiB and 100 fields, as UTF-8.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import HTTPException, Request

MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 100


class Form:
    def __init__(self, fields: dict[str, list[str]]) -> None:
        self._fields = fields

    def get(self, name: str, default: str = "") -> str:
        values = self._fields.get(name)
        return values[0] if values else default

    def getlist(self, name: str) -> list[str]:
        return list(self._fields.get(name, []))

    def fields(self) -> dict[str, list[str]]:
        return {name: list(values) for name, values in self._fields.items()}


async def read_form(request: Request) -> Form:
    """The request's form fields; 415, 413 or 400 (in Chinese) for anything else."""
    return await read_form_within(request, MAX_FORM_BYTES, MAX_FIELDS)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``max_bytes``."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise HTTPException(status_code=413, detail="提交的内容太长")
    return bytes(body)


async def read_form_within(request: Request, max_bytes: int, max_fields: int) -> Form:
    """``read_form`` with other limits (the guide editor's forms are larger: a whole YAML file)."""
    body = await read_body(request, max_bytes)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not body:
        return Form({})  # an empty form (a button alone): its checks (the CSRF token) fail on their own
    if content_type != "application/x-www-form-urlencoded":
        raise HTTPException(status_code=415, detail="请通过页面上的表单提交")
    try:
        text = body.decode("utf-8")
        fields = parse_qs(text, keep_blank_values=True, strict_parsing=False, max_num_fields=max_fields, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(status_code=400, detail="表单内容无法识别，请刷新页面后重试") from exc
    return Form(fields)
