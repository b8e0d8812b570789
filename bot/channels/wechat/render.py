"""WeChat text rendering: channel-neutral messages -> plain-text replies from jinja2 templates.

WeChat shows a text message as it is (only `<a href="...">` becomes a link) and refuses one longer
than 2048 bytes of UTF-8, so the messages of one turn are rendered one by one from
`guides/templates/wechat/<type>.j2`, joined with a blank line between them, and split into parts
that each fit. Staff edit the templates: they are rendered in a sandbox, re-read when the file
changes (auto_reload), and a missing variable fails loudly (StrictUndefined) instead of showing a
blank to a citizen.

No library fits the splitting (byte-limited, paragraph > line > sentence > character, with a
"（1/3）" marker counted inside the limit, never cutting a UTF-8 character or a link), so
`split_text` is written here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import FileSystemLoader, StrictUndefined, TemplateNotFound, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, TypeAdapter

from bot.channels.messages import Message

WECHAT_TEXT_LIMIT = 2048  # bytes of UTF-8 in one text message
TEMPLATE_SUFFIX = ".j2"
MESSAGE_SEPARATOR = "\n\n"

_message_adapter: TypeAdapter[Message] = TypeAdapter(Message)


class TemplateRenderError(RuntimeError):
    """A WeChat template is missing, does not parse, or uses a variable it was not given."""

    def __init__(self, template: str, problem: str, line: int | None = None) -> None:
        self.template = template
        self.problem = problem
        self.line = line
        where = f"{template}, line {line}" if line else template
        super().__init__(f"WeChat template {where}: {problem}")


@dataclass(frozen=True)
class Rendered:
    """One turn as WeChat text: the parts to send in order, and the payloads behind "1", "2", ..."""

    parts: list[str] = field(default_factory=list)
    choices: list[str] = field(default_factory=list)  # payloads of the turn's last choices message, numbered order


# --- splitting ---------------------------------------------------------------------------------

_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n")
_SENTENCE_END = frozenset("。！？；!?;…")
_CLAUSE_END = frozenset("，、,：:）)」』”》 \t")
_JOINERS = frozenset("\u200d\ufe0e\ufe0f")  # zero-width joiner, variation selectors
_MIN_CHAR_BYTES = 4  # the longest UTF-8 character


def nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def part_marker(index: int, count: int) -> str:
    """What ends part `index` (1-based) of `count`: on its own line, counted within the limit."""
    return f"\n（{index}/{count}）"


def _fitting_chars(text: str, budget: int) -> int:
    """How many leading characters of text fit in budget bytes (never half a character)."""
    return len(text.encode("utf-8")[:budget].decode("utf-8", errors="ignore"))


def _joins_previous(before: str, char: str) -> bool:
    """Whether char belongs to the same visible character as the one before it."""
    return (
        char in _JOINERS
        or before == "\u200d"
        or "\U0001f3fb" <= char <= "\U0001f3ff"  # skin tone modifiers
        or unicodedata.combining(char) != 0
    )


def _inside_link(text: str, cut: int) -> int | None:
    """Where the `<a ...>...</a>` that the cut would break starts, if it does."""
    start = text.rfind("<a ", 0, cut)
    if start == -1:
        return None
    end = text.find("</a>", start)
    if end == -1 or end + len("</a>") <= cut:
        return None
    return start


def _cut(text: str, budget: int) -> int:
    """Where to cut text (stripped, longer than budget) so that text[:cut] fits and is non-empty."""
    fit = _fitting_chars(text, budget)  # text[:fit] fits; text[fit] does not
    half = budget // 2
    window = text[: fit + 1]  # a break right after the fitting prefix is still a clean cut
    # 1. a blank line, if it keeps the part at least half full
    paragraph = max((m.start() for m in _PARAGRAPH_BREAK.finditer(window)), default=0)
    if paragraph >= 1 and nbytes(text[:paragraph]) >= half:
        return paragraph
    # 2. any line break
    line = window.rfind("\n")
    if line >= 1:
        return line
    # 3. inside one long line: after a sentence, then after a clause, if the part stays half full
    cut = fit
    for ends in (_SENTENCE_END, _CLAUSE_END):
        at = next((i + 1 for i in range(fit - 1, 0, -1) if text[i] in ends), 0)
        if at and nbytes(text[:at]) >= half:
            cut = at
            break
    else:
        # 4. between characters, keeping emoji sequences and combining marks together
        while cut > 1 and _joins_previous(text[cut - 1], text[cut]):
            cut -= 1
    link = _inside_link(text, cut)
    if link is not None and link > 0:  # never break a link; one longer than a whole part is cut all the same
        cut = link
    return max(cut, 1)


def _chunks(text: str, budget: int) -> list[str]:
    chunks: list[str] = []
    rest = text
    while nbytes(rest) > budget:
        cut = _cut(rest, budget)
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        chunks.append(rest)
    return chunks


def split_text(text: str, limit: int = WECHAT_TEXT_LIMIT) -> list[str]:
    """Split text into parts of at most `limit` bytes of UTF-8, in order, none empty.

    Cuts at a blank line, else at a line break, else after a sentence or clause, else between
    characters; never inside a UTF-8 character or an `<a>` link that fits in a part. Only the
    whitespace at a cut is dropped. With more than one part, each ends with a marker
    `part_marker(i, n)` such as "（1/3）", counted within the limit. Blank text gives no part.
    """
    text = text.strip()
    if not text:
        return []
    if nbytes(text) <= limit:
        return [text]
    digits = 1
    while True:
        budget = limit - nbytes(part_marker(10**digits - 1, 10**digits - 1))
        if budget < _MIN_CHAR_BYTES:
            raise ValueError(f"limit {limit} bytes leaves no room for text beside the part marker")
        chunks = _chunks(text, budget)
        if len(str(len(chunks))) <= digits:
            break
        digits = len(str(len(chunks)))
    count = len(chunks)
    return [chunk + part_marker(index, count) for index, chunk in enumerate(chunks, start=1)]


# --- rendering ---------------------------------------------------------------------------------


def _days(value: int | None) -> str:
    if value is None:
        return ""
    return "即办（当场办结）" if value == 0 else f"{value}个工作日"


class WeChatRenderer:
    """Renders messages with the templates in `templates_dir`; links point under `public_base_url`."""

    def __init__(self, templates_dir: Path, public_base_url: str) -> None:
        self.templates_dir = Path(templates_dir)
        self.public_base_url = public_base_url.rstrip("/")
        self.env = SandboxedEnvironment(
            loader=FileSystemLoader(self.templates_dir, encoding="utf-8"),
            auto_reload=True,  # a staff edit applies at the next message, without a restart
            autoescape=False,  # plain text: WeChat shows text as it is
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.helpers: dict[str, Any] = {
            "days": _days,
            "link": self.link,
            "absolute_url": self.absolute_url,
            "public_base_url": self.public_base_url,
        }

    # --- helpers the templates get ------------------------------------------------------------

    def absolute_url(self, url: str) -> str:
        """"/notices/abc" -> "<public_base_url>/notices/abc"; absolute URLs stay as they are."""
        url = url.strip()
        parts = urlsplit(url)
        if parts.scheme:
            return url
        if parts.netloc:  # "//host/path"
            return f"{urlsplit(self.public_base_url).scheme or 'https'}:{url}"
        return f"{self.public_base_url}/{url.lstrip('/')}"

    def link(self, url: str, title: str) -> str:
        """A WeChat text link: `<a href="absolute url">title</a>`."""
        href = quote(self.absolute_url(url), safe=":/?#[]@!$&'()*+,;=%~-._")
        label = title.replace("<", "＜").replace(">", "＞")
        return f'<a href="{href}">{label}</a>'

    # --- rendering ----------------------------------------------------------------------------

    def _render(self, name: str, context: Mapping[str, Any]) -> str:
        try:
            template = self.env.get_template(name)
        except TemplateNotFound as exc:
            raise TemplateRenderError(name, f"no such template in {self.templates_dir}") from exc
        except TemplateSyntaxError as exc:
            raise TemplateRenderError(name, f"syntax error: {exc.message}", exc.lineno) from exc
        try:
            return template.render(**context).strip()
        except Exception as exc:  # a template can fail in many ways (undefined, sandbox, 1/0): name it
            line = _template_line(exc.__traceback__, template.filename)
            raise TemplateRenderError(name, f"{type(exc).__name__}: {exc}", line) from exc

    def render_named(self, name: str, **context: Any) -> str:
        """A reply of the channel's own (welcome, unsupported, voice_unclear, busy, ...) from `<name>.j2`."""
        return self._render(f"{name}{TEMPLATE_SUFFIX}", {**context, **self.helpers})

    def render_message(self, message: BaseModel | Mapping[str, Any]) -> str:
        """One message as text (may be longer than WeChat's limit; `render` splits)."""
        if not isinstance(message, BaseModel):
            message = _message_adapter.validate_python(message)
        data = message.model_dump(mode="json")
        context: dict[str, Any] = {**data, "message": data}
        if data["type"] == "link":
            context["url"] = self.absolute_url(data["url"])
        elif data["type"] == "checklist":
            materials = data["materials"]
            context["exempt_materials"] = [x for x in materials if x["exempt"]]
            context["submit_materials"] = [x for x in materials if not x["exempt"] and not x["deferrable"]]
            context["deferrable_materials"] = [x for x in materials if not x["exempt"] and x["deferrable"]]
        return self._render(f"{data['type']}{TEMPLATE_SUFFIX}", {**context, **self.helpers})

    def render(self, messages: Sequence[Message | BaseModel | Mapping[str, Any]], limit: int = WECHAT_TEXT_LIMIT) -> Rendered:
        """The messages of one turn as WeChat text parts, each within `limit` bytes."""
        texts: list[str] = []
        choices: list[str] = []
        for message in messages:
            if not isinstance(message, BaseModel):
                message = _message_adapter.validate_python(message)
            text = self.render_message(message)
            if text:
                texts.append(text)
            if getattr(message, "type", None) == "choices":
                # When the text numbers its own list (the sub-items), a typed number means that list.
                numbered_text = getattr(message, "numbered_text", False)
                choices = [] if numbered_text else [c.payload for c in message.choices]  # type: ignore[attr-defined]
        return Rendered(parts=split_text(MESSAGE_SEPARATOR.join(texts), limit), choices=choices)


def _template_line(tb: TracebackType | None, filename: str | None) -> int | None:
    """The template line an error was raised from (jinja maps template frames to their source)."""
    line = None
    while tb is not None:
        if filename and tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
