"""Read guides/policies/*.yml (政策条件库) into validated policies, with file and line for every problem.

Parsing, the YAML safety checks and the mapping of pydantic errors to lines are bot.guides.loader's;
this module adds what is particular to policies: the cross-checks the schema cannot make (the id is
the file name, every field a condition uses has its data source declared, a 名单类 policy uses its
own list ...) and a store that re-reads the directory when a file changes, like the guides.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from bot.complaints.calendar import beijing_today
from bot.guides.loader import GuideFileError, ParsedFile, Problem, node_line, parse_text, validation_problems
from bot.guides.reloading import PublishedSource, ReloadingStore, files_fingerprint
from bot.policies import fields as f
from bot.policies.conditions import fields_in, leaves, lists_in, near_miss_parts
from bot.policies.schema import FieldIs, Policy
from bot.policies.validity import validity_problems

log = logging.getLogger(__name__)

POLICIES_DIR = "policies"


def display_name(path: Path) -> str:
    return f"guides/{POLICIES_DIR}/{path.name}"


def load_policy_bytes(raw: bytes, path: Path, display: str | None = None) -> tuple[Policy, ParsedFile]:
    """A policy from its bytes (a file, or a version staff published in the browser editor).

    Raises GuideFileError with the problems (Chinese, with lines) when it cannot be used.
    """
    name = display or display_name(path)
    parsed = parse_text(raw, name, path)
    if not isinstance(parsed.data, dict):
        raise GuideFileError([Problem(name, 1, "文件内容应为一项政策的键值对（id、title、kind、conditions 等）")])
    try:
        policy = Policy.model_validate(parsed.data)
    except ValidationError as exc:
        raise GuideFileError(validation_problems(exc, parsed, name)) from exc
    errors = [p for p in check_policy(policy, parsed, name) if p.severity == "错误"]
    if errors:
        raise GuideFileError(errors)
    return policy, parsed


def check_policy(policy: Policy, parsed: ParsedFile, name: str) -> list[Problem]:
    """The cross-checks of one policy that the schema alone cannot make."""
    problems: list[Problem] = []

    def at(*loc: str | int) -> int:
        return node_line(parsed.node, loc)

    if parsed.path.stem != policy.id:
        problems.append(Problem(name, at("id"), f"id “{policy.id}” 应与文件名 “{parsed.path.stem}” 一致", loc=("id",)))
    used = fields_in(policy.conditions, *(t.when for t in policy.benefit.tiers))
    declared = [d.field for d in policy.data]
    for di, need in enumerate(policy.data):
        if f.field(need.field) is None:
            loc: tuple[str | int, ...] = ("data", di, "field")
            problems.append(Problem(name, at(*loc), f"企业画像中没有字段 “{need.field}”（可用：{'、'.join(f.NAMES)}）", loc=loc))
        elif need.field not in used:
            loc = ("data", di, "field")
            problems.append(Problem(name, at(*loc), f"data 写了 “{need.field}”，但条件中没有用到", "提醒", loc=loc))
    for missing in (u for u in used if u not in declared):
        spec = f.BY_NAME[missing]
        problems.append(Problem(
            name, at("data"), f"条件用到 “{spec.label}”（{missing}），但 data 中没有写明它需要的数据", loc=("data",),
        ))
    lists = lists_in(policy.conditions)
    named = policy.named_list
    if policy.kind == "list" and named is not None and named.code not in lists:
        message = f"名单类政策的条件应包含 in_list: {named.code}（名单 “{named.name}”）"
        problems.append(Problem(name, at("conditions"), message, loc=("conditions",)))
    for code in lists:
        if named is None or code != named.code:
            message = f"条件引用了名单 “{code}”，但 list 中没有声明它"
            problems.append(Problem(name, at("conditions"), message, loc=("conditions",)))
    if policy.near_miss and not near_miss_parts(policy.conditions):
        problems.append(Problem(
            name, at("near_miss"), "要统计“差一项”的企业，conditions 的最外层应为 all，且至少有一项数值条件（如 ge: 12）",
            "提醒", loc=("near_miss",),
        ))
    if policy.kind == "condition" and not any(isinstance(leaf, FieldIs) for leaf in leaves(policy.conditions)):
        problems.append(Problem(name, at("conditions"), "条件类政策至少要有一项数据条件", loc=("conditions",)))
    return problems


@dataclass
class LoadedPolicies:
    policies: dict[str, Policy] = field(default_factory=dict)
    parsed: dict[str, ParsedFile] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def policy_files(guides_dir: Path) -> list[Path]:
    return sorted((guides_dir / POLICIES_DIR).glob("*.yml"))


def load_policies(guides_dir: Path, overrides: Mapping[str, bytes] | None = None) -> LoadedPolicies:
    """Every policy under ``guides_dir/policies``; ``overrides`` (file name -> bytes) replace or add
    files (versions published in the browser editor win over their file)."""
    directory = guides_dir / POLICIES_DIR
    overrides = {n: b for n, b in (overrides or {}).items() if n.endswith(".yml") and "/" not in n}
    result = LoadedPolicies()
    paths = {p.name: p for p in policy_files(guides_dir)} | {n: directory / n for n in overrides}
    for file_name in sorted(paths):
        path = paths[file_name]
        name = display_name(path)
        try:
            raw = overrides[file_name] if file_name in overrides else path.read_bytes()
            policy, parsed = load_policy_bytes(raw, path, name)
        except GuideFileError as exc:
            result.problems.extend(exc.problems)
            continue
        if policy.id in result.policies:
            result.problems.append(Problem(name, 1, f"id “{policy.id}” 与其他政策文件重复"))
            continue
        result.policies[policy.id] = policy
        result.parsed[policy.id] = parsed
    return result


def lint_policies(guides_dir: Path, today: date | None = None) -> list[Problem]:
    """For `python -m bot guides lint`: every problem of the policy files, reminders included, and
    a reminder for each policy whose window has ended, ends within a month or has not begun."""
    today = today or beijing_today()
    loaded = load_policies(guides_dir)
    problems = list(loaded.problems)
    for policy_id, policy in loaded.policies.items():
        parsed = loaded.parsed[policy_id]
        name = display_name(parsed.path)
        problems += [p for p in check_policy(policy, parsed, name) if p.severity != "错误"]
        problems += validity_problems(policy, parsed, name, today)
    return sorted(set(problems), key=lambda p: (p.file, p.line, p.message))


class PolicyCatalog:
    """The policies in force, by id, with the version (for logs) they were read at."""

    def __init__(self, policies: Mapping[str, Policy], version: str = "") -> None:
        self.policies = dict(policies)
        self.version = version

    def get(self, policy_id: str) -> Policy | None:
        return self.policies.get(policy_id)

    def in_force(self, on: date) -> list[Policy]:
        return [p for p in self.policies.values() if p.in_force(on)]

    def __len__(self) -> int:
        return len(self.policies)


def build_policy_catalog(
    guides_dir: Path, published: Mapping[str, str] | None = None, marker: int | None = None,
) -> PolicyCatalog:
    """The policy files, with the versions published in the browser editor (``policies/<id>.yml`` →
    text, as ``PublishedSource.documents`` gives them) over them."""
    prefix = f"{POLICIES_DIR}/"
    overrides = {name.removeprefix(prefix): text.encode("utf-8")
                 for name, text in (published or {}).items() if name.startswith(prefix)}
    loaded = load_policies(guides_dir, overrides)
    for problem in loaded.problems:
        log.error("policy file problem: %s", problem)
    return PolicyCatalog(loaded.policies, _fingerprint(guides_dir) + (f"#{marker}" if marker else ""))


def _fingerprint(guides_dir: Path) -> str:
    return files_fingerprint(policy_files(guides_dir))[:12]


class PolicyStore(ReloadingStore[PolicyCatalog]):
    """The current policies, re-read when a file changes or a version is published.

    With a ``source`` (bot.guides.versions.DatabaseSource), the versions staff published in the guide
    editor win over their files, so a policy published in any process is matched and pushed by
    every process within the check interval, without a restart. A policy with errors is left out
    (and logged); the others stay in force.
    """

    what = "policies"

    def __init__(self, guides_dir: Path, check_interval: float = 1.0, source: PublishedSource | None = None) -> None:
        self.guides_dir = guides_dir
        super().__init__(check_interval, source)

    def fingerprint(self) -> str:
        return _fingerprint(self.guides_dir)

    def build(self, published: Mapping[str, str], marker: int | None, previous: PolicyCatalog | None) -> PolicyCatalog:
        return build_policy_catalog(self.guides_dir, published, marker)


_stores: dict[tuple[Path, float], PolicyStore] = {}
_stores_lock = threading.Lock()


def policy_store(guides_dir: Path, check_interval: float = 1.0) -> PolicyStore:
    """One store of the files alone per guides directory and process (where no database is at hand)."""
    key = (guides_dir, check_interval)
    with _stores_lock:
        if key not in _stores:
            _stores[key] = PolicyStore(guides_dir, check_interval)
        return _stores[key]
