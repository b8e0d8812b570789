"""`python -m bot ...`: lint the guides, train, run the whole system, evaluate the NLU."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path

import typer

from bot.config import ROOT

app = typer.Typer(help="一件事一次办 助手", no_args_is_help=True, add_completion=False)
guides_app = typer.Typer(help="guides/ 中的“一件事”内容", no_args_is_help=True)
app.add_typer(guides_app, name="guides")
staff_app = typer.Typer(help="工作人员账号（有诉即办工单处理）", no_args_is_help=True)
app.add_typer(staff_app, name="staff")


@guides_app.command("lint")
def guides_lint(
    directory: Path = typer.Option(ROOT / "guides", "--dir", help="guides 目录"),
    as_of: str = typer.Option("", "--as-of", help="按哪一天检查惠企政策的有效期（YYYY-MM-DD，默认北京时间今天）"),
) -> None:
    """检查 guides/ 下所有文件：格式、证照代码、问题和条件、别名冲突、有诉即办分办规则，以及惠企政策是否临近到期。"""
    from datetime import date

    from bot.guides.lint import lint_directory

    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError as exc:
        typer.echo(f"日期格式不对：{as_of}（应为 YYYY-MM-DD）", err=True)
        raise typer.Exit(code=2) from exc
    problems = lint_directory(directory, day)
    for problem in problems:
        typer.echo(str(problem))
    errors = sum(1 for p in problems if p.severity == "错误")
    warnings = len(problems) - errors
    typer.echo(f"检查完成：{errors} 个错误，{warnings} 个提醒")
    raise typer.Exit(code=1 if errors else 0)


@app.command()
def train(force: bool = typer.Option(False, help="即使输入没变也重新训练")) -> None:
    """Generate lookup data from guides/ and train the Rasa model if its inputs changed."""
    from bot.training import ensure_model

    typer.echo(str(ensure_model(ROOT / "guides", force=force)))


@app.command()
def validate() -> None:
    """rasa data validate --fail-on-warnings, on the training data and the generated lookups."""
    from bot.training import validate_data

    validate_data()


@app.command("test-stories")
def test_stories() -> None:
    """rasa test core on dialogues/tests/test_stories.yml, failing on any prediction error."""
    from bot.training import ensure_model, run_story_tests

    run_story_tests(ensure_model(ROOT / "guides"))


@app.command()
def run() -> None:
    """Start Redis if needed, train if needed, then the Rasa server, the action server and the bot."""
    from bot.launcher import Stack, ensure_redis
    from bot.training import ensure_model

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    redis_url = os.environ.get("REDIS_URL") or None
    if redis_url:
        ensure_redis(redis_url)
    model = ensure_model(ROOT / "guides")
    stack = Stack(
        model=model,
        bot_port=int(os.environ.get("BOT_PORT", "8000")),
        rasa_port=int(os.environ.get("RASA_PORT", "5005")),
        action_port=int(os.environ.get("ACTION_PORT", "5055")),
        redis_url=redis_url,
        with_worker=True,
    )
    typer.echo("starting Rasa, the action server, the bot and the worker (Rasa takes about half a minute to load) ...")
    stack.start()
    typer.echo(
        f"\n  web chat     {stack.bot_url}/chat\n  chat API     {stack.bot_url}/api/v1/chat\n"
        f"  staff desk   {stack.bot_url}/admin  (accounts: python -m bot staff add)\n"
        f"  health       {stack.bot_url}/healthz\n  API docs     {stack.bot_url}/docs\n"
        f"  Rasa         {stack.rasa_url}\n  actions      http://127.0.0.1:{stack.action_port}\n"
        f"  logs         {stack.log_dir}\n\nCtrl-C stops everything."
    )

    def _stop(*_: object) -> None:
        stack.stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, _stop)
    try:
        while all(p.poll() is None for p in stack.processes.values()):
            time.sleep(1)
        dead = [n for n, p in stack.processes.items() if p.poll() is not None]
        typer.echo(f"{', '.join(dead)} stopped; see {stack.log_dir}", err=True)
    except KeyboardInterrupt:
        pass
    stack.stop()


@app.command("nlu-eval")
def nlu_eval(
    heldout: Path = typer.Option(ROOT / "dialogues" / "tests" / "nlu_heldout.yml"),
    rasa_url: str = typer.Option("", help="a running Rasa with --enable-api; started here when empty"),
    guides_only: bool = typer.Option(False, help="only the run-time guide matcher, no Rasa (intents not measured)"),
) -> None:
    """Intent and guide-identification accuracy on the held-out utterances."""
    from bot.nlu_eval import main

    raise typer.Exit(code=main(heldout, rasa_url or None, guides_only))


@app.command("wechat-menu")
def wechat_menu(
    push: bool = typer.Option(False, "--push", help="推送到公众号（需要 WECHAT_APP_ID、WECHAT_APP_SECRET、REDIS_URL）"),
) -> None:
    """显示（或推送）guides/templates/wechat/menu.yml 中的公众号菜单。"""
    import json

    import redis as redis_lib
    from pydantic import ValidationError

    from bot.channels.wechat.client import SharedTokenClient
    from bot.channels.wechat.menu import load_menu
    from bot.config import get_settings

    settings = get_settings()
    try:
        menu = load_menu(settings.guides_dir)
    except (OSError, ValidationError) as exc:
        typer.echo(f"菜单文件有误：{exc}", err=True)
        raise typer.Exit(code=1) from exc
    body = menu.to_wechat()
    typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
    if not push:
        return
    if not (settings.wechat_app_id and settings.wechat_app_secret and settings.redis_url):
        typer.echo("推送需要 WECHAT_APP_ID、WECHAT_APP_SECRET 和 REDIS_URL", err=True)
        raise typer.Exit(code=2)
    client = SharedTokenClient(settings.wechat_app_id, settings.wechat_app_secret, settings.wechat_api_base_url,
                               redis_lib.Redis.from_url(settings.redis_url))
    client.menu.create(body)
    typer.echo("已推送到公众号")


@staff_app.command("add")
def staff_add(
    username: str = typer.Argument(..., help="用户名（2–64 个字符：字母、汉字、数字和 _ . @ -）"),
    department: str = typer.Option(..., "--department", "-d", help="所在部门，与 guides/complaints/rules.yml 部门名录一致"),
    admin: bool = typer.Option(False, "--admin", help="管理员：可处理所有部门的工单，可编辑全部办事指南和回复用语"),
    editor: bool = typer.Option(False, "--editor", help="可在网页上编辑本部门牵头的办事指南（/admin/guides）"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="从标准输入读取密码（第一行），不提示"),
    new_department: bool = typer.Option(False, "--new-department", help="部门不在已知部门中也照样添加"),
) -> None:
    """添加工作人员账号（密码以 argon2id 哈希保存）。数据库由 DATABASE_URL 指定。"""
    from sqlalchemy.exc import IntegrityError, SQLAlchemyError

    from bot.complaints.rules import known_departments, rules_store
    from bot.complaints.staff import StaffError, check_password, create_staff
    from bot.config import Settings
    from bot.guides.loader import load_directory
    from bot.store.db import make_engine, make_sessionmaker, upgrade_database

    settings = Settings()
    department = department.strip()
    if not new_department:
        rules = rules_store(settings.guides_dir).get()
        if (canonical := rules.canonical(department)) != department:
            typer.echo(f"部门 “{department}” 按部门名录记为 “{canonical}”")
            department = canonical
        # The rules' directory first; reading every guide only when the department is not there.
        known = rules.departments if department in rules.departments else known_departments(
            rules, load_directory(settings.guides_dir).guides.values()
        )
        if department not in known:
            close = [d for d in known if department and (department in d or d in department)]
            hint = f"（是不是：{'、'.join(close[:5])}？）" if close else ""
            typer.echo(f"部门 “{department}” 不在已知部门中{hint}；确实是新部门请加 --new-department", err=True)
            raise typer.Exit(code=2)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("密码", hide_input=True, confirmation_prompt="再输入一次密码")
    try:
        check_password(password)
    except StaffError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc

    role = "admin" if admin else "staff"
    try:
        upgrade_database(settings.database_url)
        engine = make_engine(settings.database_url)
    except SQLAlchemyError as exc:
        typer.echo(f"数据库不可用：{type(exc).__name__}", err=True)
        raise typer.Exit(code=1) from exc
    try:
        with make_sessionmaker(engine)() as session:
            account = create_staff(session, username, department, password, role, guide_editor=editor)
            session.commit()
    except StaffError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
    except IntegrityError as exc:
        typer.echo(f"用户名 {username.strip().lower()} 已存在", err=True)
        raise typer.Exit(code=1) from exc
    except SQLAlchemyError as exc:
        typer.echo(f"保存失败：{type(exc).__name__}", err=True)
        raise typer.Exit(code=1) from exc
    finally:
        engine.dispose()
    rights = "管理员" if admin else "工作人员，可编辑指南" if editor else "工作人员"
    typer.echo(f"已添加工作人员 {account.username}（{account.department}，{rights}）")


@staff_app.command("editor")
def staff_editor(
    username: str = typer.Argument(..., help="用户名"),
    off: bool = typer.Option(False, "--off", help="收回编辑权限"),
) -> None:
    """开通（或 --off 收回）工作人员在网页上编辑本部门办事指南的权限。"""
    from bot.complaints.staff import get_staff
    from bot.config import Settings
    from bot.store.db import make_engine, make_sessionmaker, upgrade_database

    settings = Settings()
    upgrade_database(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            account = get_staff(session, username)
            if account is None:
                typer.echo(f"没有用户 {username}", err=True)
                raise typer.Exit(code=1)
            account.guide_editor = not off
            session.commit()
            typer.echo(f"{account.username}（{account.department}）{'已收回' if off else '已开通'}办事指南编辑权限")
    finally:
        engine.dispose()


@guides_app.command("export")
def guides_export(directory: Path = typer.Option(ROOT / "guides", "--dir", help="写入的 guides 目录")) -> None:
    """把网页上发布的最新版本写回 guides/ 中的文件（逐字节与线上一致），以便纳入版本库。"""
    from bot.config import Settings
    from bot.guides.versions import Editor, export
    from bot.store.db import make_engine, make_sessionmaker, upgrade_database

    settings = Settings()
    upgrade_database(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            written = export(session, directory, Editor("cli"))
            session.commit()
    finally:
        engine.dispose()
    for name in written:
        typer.echo(f"已写入 {directory / name}")
    typer.echo(f"导出完成：{len(written)} 个文件有变化")


@app.command()
def worker() -> None:
    """后台任务进程（arq）：超期投诉督办等定时任务。"""
    from arq.worker import run_worker

    from bot.worker import worker_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    run_worker(worker_settings())  # type: ignore[arg-type]


# --- 免申即享: enterprise profiles and policy matching ----------------------------------------------

enterprises_app = typer.Typer(help="企业画像库（免申即享）", no_args_is_help=True)
app.add_typer(enterprises_app, name="enterprises")
policies_app = typer.Typer(help="惠企政策匹配（免申即享）", no_args_is_help=True)
app.add_typer(policies_app, name="policies")


def _policy_engine():  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import SQLAlchemyError

    from bot.config import Settings
    from bot.store.db import make_engine, upgrade_database

    settings = Settings()
    try:
        upgrade_database(settings.database_url)
        return settings, make_engine(settings.database_url)
    except SQLAlchemyError as exc:
        typer.echo(f"数据库不可用：{type(exc).__name__}", err=True)
        raise typer.Exit(code=1) from exc


@enterprises_app.command("import")
def enterprises_import(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help=".csv、.json 或 .jsonl（格式见 README.md）"),
    show: int = typer.Option(20, "--show", help="最多列出多少条被拒绝的记录"),
) -> None:
    """导入企业画像（市场监管、税务、人社等共享数据），按统一社会信用代码新增或更新。"""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from bot.policies.importer import ImportFileError, import_file

    _, engine = _policy_engine()
    unit = file.suffix.lower() != ".json"  # bytes for streamed files, records for a JSON array
    columns = [TextColumn("导入 {task.description}"), BarColumn(), DownloadColumn() if unit else TextColumn(
        "{task.completed}/{task.total} 条"), TimeRemainingColumn()]
    try:
        with Progress(*columns, transient=False) as bar:
            task = bar.add_task(file.name, total=None)
            report = import_file(engine, file, progress=lambda done, total: bar.update(task, completed=done, total=total))
    except ImportFileError as exc:
        typer.echo(f"无法导入：{exc}", err=True)
        raise typer.Exit(code=1) from exc
    finally:
        engine.dispose()
    for rejected in report.rejected[:show]:
        typer.echo(f"拒绝 {rejected}")
    if len(report.rejected) > show:
        typer.echo(f"……另有 {len(report.rejected) - show} 条被拒绝（--show 可列出更多）")
    typer.echo(report.summary())
    raise typer.Exit(code=2 if report.rejected else 0)


@enterprises_app.command("generate")
def enterprises_generate(
    count: int = typer.Argument(..., min=1, help="生成多少家企业"),
    out: Path = typer.Option(..., "--out", "-o", help="输出文件：.csv（中文表头）或 .jsonl"),
    seed: int = typer.Option(1, help="随机种子（相同种子生成相同数据）"),
) -> None:
    """生成合成的企业画像（测试、演示和基准测试用，统一社会信用代码校验位有效）。"""
    from bot.policies.generator import write_file

    if out.suffix.lower() not in (".csv", ".jsonl"):
        typer.echo("输出文件应为 .csv 或 .jsonl", err=True)
        raise typer.Exit(code=2)
    write_file(out, count, seed)
    typer.echo(f"已生成 {count} 家企业：{out}")


@policies_app.command("match")
def policies_match(
    as_of: str = typer.Option("", "--as-of", help="按哪一天匹配（YYYY-MM-DD，默认今天）"),
    policy: list[str] = typer.Option([], "--policy", "-p", help="只匹配这些政策（id，可重复）"),
) -> None:
    """系统智审：用 guides/policies 中有效的政策匹配企业画像库，新匹配记入政策匹配库（可重复运行）。"""
    from datetime import date

    from bot.complaints.calendar import beijing_today
    from bot.guides.versions import DatabaseSource
    from bot.policies.catalog import PolicyStore
    from bot.policies.matching import run_matching

    settings, engine = _policy_engine()
    try:
        day = date.fromisoformat(as_of) if as_of else beijing_today()
    except ValueError as exc:
        typer.echo(f"日期格式不对：{as_of}（应为 YYYY-MM-DD）", err=True)
        raise typer.Exit(code=2) from exc
    # The files with the versions published in the guide editor over them, as the worker matches.
    catalog = PolicyStore(settings.guides_dir, source=DatabaseSource(lambda: engine)).get()
    try:
        result = run_matching(engine, catalog, day, "cli", policy or None)
    finally:
        engine.dispose()
    for p in result.policies:
        typer.echo(f"{p.policy_id:<28} 符合 {p.matched:>8}  新增 {p.new:>8}  不再符合 {p.lapsed:>6}  "
                   f"差一项 {p.near_misses:>8}  {p.ms:>8.0f} ms")
    typer.echo(f"匹配完成（第 {result.run_id} 次，{day.isoformat()}）：{len(result.policies)} 项政策，新增匹配 {result.new}")
