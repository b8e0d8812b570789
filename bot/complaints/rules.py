"""Complaint categories and routing (guides/complaints/rules.yml): what a complaint is and who handles it.

The file is content that staff change, read at run time like the guides: categories with their
keywords, a directory of departments with the short names people use (公安局, 派出所), routing
rules from keywords to departments, and the default department (the 12345 专班 that dispatches
what no rule covers). Departments are decided, first match wins, by:

1. the department the user named as the subject (“我要投诉县公安局”);
2. the 一件事 the complaint is about (``guide_id``, or a subject naming one): its lead department
   and joint departments, narrowed to the lead and the departments of the sub-items (or
   departments) the text names, if it names any;
3. departments the text names (by name or alias);
4. the routing rules whose keywords the text contains (most hits first, at most
   ``max_departments``);
5. the default department.

A department that returned the ticket (退回, misrouted) is left out at every step.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from bot.guides.loader import GuideFileError, ParsedFile, Problem, node_line, parse_file, validation_problems
from bot.guides.matcher import normalize
from bot.guides.reloading import ReloadingStore, files_fingerprint
from bot.guides.schema import Guide

log = logging.getLogger(__name__)

RULES_FILE = Path("complaints") / "rules.yml"
RULES_DISPLAY = "guides/complaints/rules.yml"

CategoryName = Literal["投诉", "举报", "求助", "咨询", "建议"]
CATEGORIES: tuple[str, ...] = get_args(CategoryName)
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
Keyword = Annotated[str, StringConstraints(min_length=1, max_length=30, strip_whitespace=True)]

FALLBACK_DEPARTMENT = "县12345热线工作专班"
# Several departments in one field of a guide (牵头部门: “县发改委、县行政审批和政务信息管理局”).
_DEPARTMENT_SEPARATORS = ("、", "，", ",", "；", ";")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategoryRule(_Strict):
    name: CategoryName
    keywords: list[Keyword] = Field(min_length=1)


class Department(_Strict):
    name: ShortText
    aliases: list[ShortText] = []  # how citizens name it: 公安局, 派出所


class Route(_Strict):
    name: ShortText  # what the rule is about, shown to staff as the routing reason
    keywords: list[Keyword] = Field(min_length=1)
    departments: list[ShortText] = Field(min_length=1)


class ComplaintRules(_Strict):
    sample_notice: ShortText | None = None
    default_category: CategoryName
    default_department: ShortText
    max_departments: int = Field(default=3, ge=1, le=10)
    categories: list[CategoryRule] = []
    departments: list[Department] = Field(min_length=1)
    routes: list[Route] = []


@dataclass(frozen=True)
class Routing:
    departments: tuple[str, ...]
    reason: str  # in Chinese, for the event log and the staff desk


def split_departments(value: str) -> list[str]:
    """“县发改委、县行政审批和政务信息管理局” → both names."""
    parts = [value]
    for sep in _DEPARTMENT_SEPARATORS:
        parts = [p for part in parts for p in part.split(sep)]
    return [p.strip() for p in parts if p.strip()]


def guide_departments(guide: Guide) -> list[str]:
    """The lead department(s) first, then the joint departments, without repeats."""
    names = [*split_departments(guide.lead_department)]
    for joint in guide.joint_departments:
        names.extend(split_departments(joint))
    return list(dict.fromkeys(names))


def _hits(keywords: Iterable[str], text: str) -> list[str]:
    return [k for k in keywords if (n := normalize(k)) and n in text]


class Rules:
    """The validated rules with their normalized lookups, ready to categorize and route."""

    def __init__(self, data: ComplaintRules, version: str = "") -> None:
        self.data = data
        self.version = version
        self.default_department = data.default_department
        self.default_category = data.default_category
        self._names: dict[str, list[str]] = {
            d.name: list(dict.fromkeys(n for n in (normalize(x) for x in [d.name, *d.aliases]) if n))
            for d in data.departments
        }

    @classmethod
    def fallback(cls) -> Rules:
        """What is used when rules.yml cannot be read: every complaint goes to the 12345 专班."""
        data = ComplaintRules(
            default_category="投诉", default_department=FALLBACK_DEPARTMENT, departments=[Department(name=FALLBACK_DEPARTMENT)]
        )
        return cls(data, "fallback")

    @property
    def departments(self) -> list[str]:
        return list(self._names)

    def canonical(self, name: str) -> str:
        """The directory's name for a department written another way in a guide (“残联” → 县残联)."""
        if name in self._names:
            return name
        norm = normalize(name)
        for canonical, names in self._names.items():
            if norm in names:
                return canonical
        return name

    def categorize(self, text: str, subject: str | None = None) -> str:
        """The category whose keywords the text contains most; ties go to the earlier one in the file."""
        norm = normalize(f"{subject or ''} {text}")
        best, best_hits = self.default_category, 0
        for rule in self.data.categories:
            hits = len(_hits(rule.keywords, norm))
            if hits > best_hits:
                best, best_hits = rule.name, hits
        return best

    def _named(self, norm: str, candidates: Iterable[str] | None = None) -> list[str]:
        """Departments named in ``norm`` (by name or alias), in directory order."""
        pool = list(candidates) if candidates is not None else list(self._names)
        found = []
        for name in pool:
            names = self._names.get(name) or [normalize(name)]
            if any(n and n in norm for n in names):
                found.append(name)
        return found

    def route(
        self, text: str, subject: str | None = None, guide: Guide | None = None, exclude: Iterable[str] = ()
    ) -> Routing:
        excluded = set(exclude)

        def keep(names: Iterable[str]) -> list[str]:
            return [n for n in dict.fromkeys(names) if n not in excluded]

        norm_subject = normalize(subject or "")
        norm = normalize(f"{subject or ''} {text}")

        if norm_subject and (named := keep(self._named(norm_subject))):
            return Routing(tuple(named[: self.data.max_departments]), "用户点名的部门")

        if guide is not None:
            all_of_guide = [self.canonical(d) for d in guide_departments(guide)]
            lead = [self.canonical(d) for d in split_departments(guide.lead_department)]
            mentioned = [
                self.canonical(d)
                for item in guide.items
                if _hits([item.title, item.short_title or "", *item.aliases], norm)
                for d in split_departments(item.department)
            ]
            mentioned += self._named(norm, all_of_guide)
            if mentioned and (narrowed := keep([*lead, *mentioned])):
                return Routing(tuple(narrowed), f"“{guide.title}”中用户提到的事项（含牵头部门）")
            if departments := keep(all_of_guide):
                return Routing(tuple(departments), f"“{guide.title}”的牵头和联办部门")

        if named := keep(self._named(norm)):
            return Routing(tuple(named[: self.data.max_departments]), "诉求中提到的部门")

        scored: list[tuple[int, int, Route, list[str]]] = []
        for index, rule in enumerate(self.data.routes):
            if hits := _hits(rule.keywords, norm):
                scored.append((-len(hits), index, rule, hits))
        scored.sort(key=lambda s: (s[0], s[1]))
        chosen: list[str] = []
        reasons: list[str] = []
        for _, _, rule, hits in scored:
            new = [d for d in keep(rule.departments) if d not in chosen]
            if not new:
                continue
            room = self.data.max_departments - len(chosen)
            if room <= 0:
                break
            chosen.extend(new[:room])
            reasons.append(f"{rule.name}（{'、'.join(hits[:3])}）")
        if chosen:
            return Routing(tuple(chosen), "关键词：" + "；".join(reasons))

        return Routing((self.default_department,), "未匹配到规则，由兜底部门分办")


# --- loading ----------------------------------------------------------------------------------


def _duplicates(values: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    dup: list[str] = []
    for v in values:
        if v in seen and v not in dup:
            dup.append(v)
        seen.add(v)
    return dup


def check_rules(rules: ComplaintRules, parsed: ParsedFile, name: str = RULES_DISPLAY) -> list[Problem]:
    """The cross-checks the schema cannot make, with the file's line numbers."""
    problems: list[Problem] = []

    def at(*loc: object) -> int:
        return node_line(parsed.node, loc)

    known = {d.name for d in rules.departments}
    for dup in _duplicates([d.name for d in rules.departments]):
        problems.append(Problem(name, at("departments"), f"部门 “{dup}” 重复"))
    owners: dict[str, str] = {}
    for di, dept in enumerate(rules.departments):
        for ai, alias in enumerate(dept.aliases):
            other = owners.get(normalize(alias))
            if other is not None and other != dept.name:
                message = f"简称 “{alias}” 同时属于 {other} 和 {dept.name}"
                problems.append(Problem(name, at("departments", di, "aliases", ai), message))
            owners[normalize(alias)] = dept.name
    if rules.default_department not in known:
        problems.append(
            Problem(name, at("default_department"), f"兜底部门 “{rules.default_department}” 不在 departments 部门名录中")
        )
    for dup in _duplicates([c.name for c in rules.categories]):
        problems.append(Problem(name, at("categories"), f"类别 “{dup}” 重复"))
    for ri, route in enumerate(rules.routes):
        for di, dept in enumerate(route.departments):
            if dept not in known:
                message = f"规则 “{route.name}” 的部门 “{dept}” 不在 departments 部门名录中"
                problems.append(Problem(name, at("routes", ri, "departments", di), message))
    keyword_owner: dict[str, str] = {}
    for ci, category in enumerate(rules.categories):
        for ki, keyword in enumerate(category.keywords):
            other = keyword_owner.get(keyword)
            if other is not None and other != category.name:
                message = f"关键词 “{keyword}” 同时属于类别 {other} 和 {category.name}"
                problems.append(Problem(name, at("categories", ci, "keywords", ki), message, "提醒"))
            keyword_owner.setdefault(keyword, category.name)
    return problems


class RulesFileError(GuideFileError):
    pass


def load_rules(path: Path, display: str = RULES_DISPLAY) -> tuple[ComplaintRules, list[Problem]]:
    """Read and validate rules.yml; raises RulesFileError (problems in Chinese, with lines) on errors.

    Reminders (提醒) do not stop loading; they are returned.
    """
    try:
        parsed = parse_file(path, display)
    except GuideFileError as exc:
        raise RulesFileError(exc.problems) from exc
    if not isinstance(parsed.data, dict):
        raise RulesFileError([Problem(display, 1, "文件内容应为键值对（categories、departments、routes 等）")])
    try:
        rules = ComplaintRules.model_validate(parsed.data)
    except ValidationError as exc:
        raise RulesFileError(validation_problems(exc, parsed, display)) from exc
    problems = check_rules(rules, parsed, display)
    if errors := [p for p in problems if p.severity == "错误"]:
        raise RulesFileError(errors)
    return rules, problems


def lint_rules(guides_dir: Path) -> list[Problem]:
    """For `python -m bot guides lint`: the rules file's problems (none when there is no file)."""
    path = guides_dir / RULES_FILE
    if not path.exists():
        return []
    try:
        _, problems = load_rules(path)
    except RulesFileError as exc:
        return exc.problems
    return problems


class RulesStore(ReloadingStore[Rules]):
    """The current rules, re-read when the file changes (checked at most every ``check_interval`` s).

    A broken edit is logged and the last good rules stay in use; with no good rules at all (the
    file is missing or broken at start-up) every complaint goes to the default department, so a
    complaint is always accepted.
    """

    what = "complaint rules"

    def __init__(self, guides_dir: Path, check_interval: float = 1.0) -> None:
        self.path = guides_dir / RULES_FILE
        super().__init__(check_interval)

    def fingerprint(self) -> str:
        return files_fingerprint([self.path])[:12]

    def build(self, published: Mapping[str, str], marker: int | None, previous: Rules | None) -> Rules:
        previous = previous if previous is not None else Rules.fallback()
        try:
            data, problems = load_rules(self.path)
        except FileNotFoundError:
            log.error("%s is missing; complaints go to %s", RULES_DISPLAY, previous.default_department)
            return previous
        except RulesFileError as exc:
            for problem in exc.problems:
                log.error("complaint rules problem: %s", problem)
            log.error("complaint rules not loaded; keeping version %s", previous.version)
            return previous
        for problem in problems:
            log.warning("complaint rules: %s", problem)
        return Rules(data, self.fingerprint())


@lru_cache(maxsize=8)
def rules_store(guides_dir: Path, check_interval: float = 1.0) -> RulesStore:
    """One store per guides directory and process."""
    return RulesStore(guides_dir, check_interval)


def known_departments(rules: Rules, guides: Iterable[Guide]) -> list[str]:
    """Every department name the system knows: the rules' directory and the guides' departments."""
    names = [*rules.departments, rules.default_department]
    for guide in guides:
        names.extend(rules.canonical(d) for d in guide_departments(guide))
        names.extend(rules.canonical(d) for item in guide.items for d in split_departments(item.department))
    return list(dict.fromkeys(names))
