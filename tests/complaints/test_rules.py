"""guides/complaints/rules.yml: categories, routing (keywords, named departments, guides), loading and lint."""

from __future__ import annotations

import os
import shutil
import time
from datetime import date
from pathlib import Path

import pytest
import yaml

from bot.complaints.rules import (
    FALLBACK_DEPARTMENT,
    RULES_FILE,
    Rules,
    RulesFileError,
    RulesStore,
    guide_departments,
    known_departments,
    load_rules,
    split_departments,
)
from bot.guides.catalog import Catalog
from bot.guides.lint import lint_directory
from tests.complaints.conftest import GUIDES


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("我要举报小区门口饭店无证经营", "举报"),
        ("在窗口跑了好几趟还是办不成，工作人员态度差", "投诉"),
        ("孩子上学的事不知道找谁，帮帮忙", "求助"),
        ("请问社保卡怎么办理，需要什么材料", "咨询"),
        ("建议政务大厅周末也开放", "建议"),
        ("你们怎么回事", "投诉"),  # nothing matched: the default category
    ],
)
def test_categories(rules: Rules, text: str, category: str) -> None:
    assert rules.categorize(text) == category


def test_category_from_the_subject_too(rules: Rules) -> None:
    assert rules.categorize("这个事", subject="咨询营业执照") == "咨询"


@pytest.mark.parametrize(
    ("text", "departments"),
    [
        ("楼下饭店油烟太大，呛得没法开窗", ("县生态环境分局",)),
        ("烧烤摊占道经营，油烟也很大", ("县住房建设和城市管理局", "县生态环境分局")),
        ("单位拖欠工资三个月了", ("县人社局",)),
        ("公积金提取一直不到账", ("新乡市住房公积金管理中心新乡县管理部",)),
        ("停电两天了也没人来修", ("新乡县供电公司",)),
        ("你们什么都不管", (FALLBACK_DEPARTMENT,)),
        ("我电话是13812345678，楼下饭店油烟太大", ("县生态环境分局",)),  # “12345” inside a phone number names no one
    ],
)
def test_routing_by_keywords(rules: Rules, text: str, departments: tuple[str, ...]) -> None:
    routing = rules.route(text)
    assert routing.departments == departments
    assert routing.reason


def test_keyword_routing_is_capped_most_hits_first(rules: Rules) -> None:
    text = "小区物业不管电梯，垃圾堆着，楼下油烟噪音扰民，停水停电，孩子上学也没着落"
    routing = rules.route(text)
    assert len(routing.departments) == rules.data.max_departments == 3
    # 物业与住房 (物业, 电梯) and 城市管理 (垃圾) are one department; 生态环境 has 油烟 and 噪音.
    assert routing.departments[0] == "县住房建设和城市管理局"
    assert "县生态环境分局" in routing.departments


def test_a_named_department_wins_over_keywords(rules: Rules) -> None:
    routing = rules.route("派出所让我去社区开证明，社区又让我找派出所，户口迁不了")
    assert routing.departments == ("县公安局",)
    assert routing.reason == "诉求中提到的部门"
    assert rules.route("公积金提取一直不到账", subject="住建局").departments == ("县住房建设和城市管理局",)
    assert rules.route("公积金提取一直不到账", subject="住建局").reason == "用户点名的部门"


def test_routing_by_guide(rules: Rules, catalog: Catalog) -> None:
    newborn = catalog.guide("newborn")
    assert newborn is not None
    assert guide_departments(newborn) == ["县卫健委", "县公安局", "县人社局", "县医保局"]
    whole = rules.route("新生儿出生一件事办了半个月还没办完", guide=newborn)
    assert whole.departments == ("县卫健委", "县公安局", "县人社局", "县医保局")
    assert "牵头和联办部门" in whole.reason
    # Naming one sub-item narrows it to the lead department and that item's department.
    narrowed = rules.route("宝宝的户口一直办不下来", guide=newborn)
    assert narrowed.departments == ("县卫健委", "县公安局")
    # A guide whose lead field names two departments: both lead.
    loan = catalog.guide("housing_fund_loan")
    assert loan is not None and "、" in loan.lead_department
    routing = rules.route("公积金贷款批了一个多月还没放款", guide=loan)
    assert routing.departments[:2] == ("县不动产登记和交易中心", "新乡市住房公积金管理中心新乡县管理部")
    # A subject that names the guide is as good as its id (resolved by the service, see test_service).


def test_returned_departments_are_left_out(rules: Rules, catalog: Catalog) -> None:
    newborn = catalog.guide("newborn")
    assert rules.route("宝宝的户口一直办不下来", guide=newborn, exclude={"县公安局"}).departments == ("县卫健委",)
    assert rules.route("楼下饭店油烟太大", exclude={"县生态环境分局"}).departments == (FALLBACK_DEPARTMENT,)
    both = rules.route("烧烤摊占道经营，油烟也很大", exclude={"县住房建设和城市管理局"})
    assert both.departments == ("县生态环境分局",)
    assert rules.route("派出所不给办户口", exclude={"县公安局"}).departments == (FALLBACK_DEPARTMENT,)


def test_canonical_names_and_known_departments(rules: Rules, catalog: Catalog) -> None:
    assert rules.canonical("残联") == "县残联"
    assert rules.canonical("派出所") == "县公安局"
    assert rules.canonical("县公安局") == "县公安局"
    assert rules.canonical("新乡海关（对接协调）") == "新乡海关（对接协调）"  # not in the directory: kept
    known = known_departments(rules, catalog.guides.values())
    assert {"县12345热线工作专班", "县公安局", "县残联", "新乡海关（对接协调）"} <= set(known)
    assert "残联" not in known and "公安局" not in known
    assert split_departments("县发改委、县行政审批和政务信息管理局") == ["县发改委", "县行政审批和政务信息管理局"]


# --- the file ------------------------------------------------------------------------------------


def _guides_copy(tmp_path: Path) -> Path:
    directory = tmp_path / "guides"
    shutil.copytree(GUIDES, directory)
    return directory


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_real_rules_file_is_sample_content_and_lints_clean() -> None:
    data, problems = load_rules(GUIDES / RULES_FILE)
    assert problems == []
    assert data.sample_notice and "样例" in data.sample_notice
    assert data.default_department == FALLBACK_DEPARTMENT
    assert {c.name for c in data.categories} == {"投诉", "举报", "求助", "咨询", "建议"}
    assert [p for p in lint_directory(GUIDES) if "complaints" in p.file] == []


def test_schema_errors_name_the_line(tmp_path: Path) -> None:
    directory = _guides_copy(tmp_path)
    path = directory / RULES_FILE
    text = path.read_text(encoding="utf-8").replace("  - name: 建议\n", "  - name: 表扬\n")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulesFileError) as exc:
        load_rules(path)
    [problem] = exc.value.problems
    assert problem.file == "guides/complaints/rules.yml"
    assert problem.line == _line_of(text, "name: 表扬")
    assert "取值不在允许范围内" in problem.message
    # A day no sample policy's window is near its end: the copied policies add no reminders after the rules'.
    lint = [str(p) for p in lint_directory(directory, date(2026, 11, 22))]
    assert f"guides/complaints/rules.yml:{problem.line}: 错误：categories.4.name：取值不在允许范围内" in lint[-1]


def test_cross_checks_in_chinese_with_lines(tmp_path: Path) -> None:
    directory = _guides_copy(tmp_path)
    path = directory / RULES_FILE
    text = path.read_text(encoding="utf-8")
    text = text.replace("    departments: [县残联]\n", "    departments: [县残疾人联合会]\n")
    text = text.replace("default_department: 县12345热线工作专班", "default_department: 县热线办")
    text = text.replace("keywords: [建议, 希望,", "keywords: [建议, 投诉, 希望,")
    path.write_text(text, encoding="utf-8")
    problems = [str(p) for p in lint_directory(directory) if "complaints" in p.file]
    route_line = _line_of(text, "departments: [县残疾人联合会]")
    message = "错误：规则 “残疾人服务” 的部门 “县残疾人联合会” 不在 departments 部门名录中"
    assert f"guides/complaints/rules.yml:{route_line}: {message}" in problems
    default_line = _line_of(text, "default_department:")
    assert f"guides/complaints/rules.yml:{default_line}: 错误：兜底部门 “县热线办” 不在 departments 部门名录中" in problems
    with pytest.raises(RulesFileError):
        load_rules(path)
    # A keyword in two categories is only a reminder.
    text = text.replace("[县残疾人联合会]", "[县残联]").replace("县热线办", "县12345热线工作专班")
    path.write_text(text, encoding="utf-8")
    _, reminders = load_rules(path)
    assert [p.severity for p in reminders] == ["提醒"]
    assert "关键词 “投诉” 同时属于类别 投诉 和 建议" in reminders[0].message


def test_yaml_errors_and_anchors_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text("default_category: &a 投诉\nx: *a\n", encoding="utf-8")
    with pytest.raises(RulesFileError) as exc:
        load_rules(path)
    assert "锚点" in exc.value.problems[0].message
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(RulesFileError) as exc:
        load_rules(path)
    assert "键值对" in exc.value.problems[0].message


def test_store_reloads_edits_and_keeps_the_last_good_rules(tmp_path: Path) -> None:
    directory = _guides_copy(tmp_path)
    path = directory / RULES_FILE
    store = RulesStore(directory, check_interval=0)
    assert store.get().route("停电两天了").departments == ("新乡县供电公司",)

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["routes"].insert(0, {"name": "供电（试行）", "keywords": ["停电"], "departments": ["县发改委"]})
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    _touch(path)
    assert store.get().route("停电两天了").departments[0] == "县发改委"  # read at run time

    path.write_text("routes: [broken\n", encoding="utf-8")
    _touch(path)
    assert store.get().route("停电两天了").departments[0] == "县发改委"  # the last good rules stay

    path.unlink()
    assert RulesStore(directory).get().route("停电两天了").departments == (FALLBACK_DEPARTMENT,)


def _touch(path: Path) -> None:
    later = time.time() + 5
    os.utime(path, (later, later))
