"""Settings from the environment (and an optional .env file); secrets never live in the code."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from limits import parse as parse_rate
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.push.quiet import QuietHours

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    bot_port: int = 8000
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_timeout_seconds: float = 20.0
    guides_dir: Path = ROOT / "guides"
    database_url: str = f"sqlite:///{ROOT / 'var' / 'yishiban.db'}"
    redis_url: str | None = None
    # Namespaces this deployment's keys in a shared Redis (Rasa's stores use the same prefix).
    redis_key_prefix: str = "yishiban"
    max_text_chars: int = 500  # a chat message longer than this is refused with a clear note
    guides_check_interval: float = 1.0
    # Where links in chat messages point (the notice page): WeChat shows absolute URLs only.
    public_base_url: str = "http://localhost:8000"

    # WeChat official account (公众号). Safe mode (AES) when wechat_aes_key is set.
    wechat_token: str | None = None
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = None
    wechat_aes_key: str | None = None
    # Where the WeChat client sends API calls: WeChat's own by default, a loopback fake in tests.
    wechat_api_base_url: str = "https://api.weixin.qq.com"
    # WeChat waits 5 s for a passive reply; answer within this budget or switch to 客服消息.
    wechat_reply_budget_seconds: float = 4.0
    wechat_max_body_bytes: int = 64 * 1024
    wechat_max_clock_skew_seconds: int = 300

    # The 豫事办 mini-program: with mp_app_id set, /api/v1/chat requires a session token.
    mp_app_id: str | None = None
    mp_app_secret: str | None = None
    # Signs session tokens; required with mp_app_id (all bot processes must share it).
    session_secret: str | None = None
    session_ttl_seconds: int = 2 * 3600
    # The /chat page signs in as an anonymous, clearly marked demo identity.
    demo_chat_enabled: bool = True

    # 企业绑定: who verifies that a user may act for a company. Only "test" is built in (codes go
    # nowhere; ENTERPRISE_TEST_CODE fixes the code for end-to-end runs); production plugs in SMS or 豫事办.
    enterprise_verifier: str = "test"
    enterprise_test_code: str | None = None

    # Proactive pushes (complaint answers, policy notices), sent by the worker.
    push_rate_limit: str = "20/second"  # shared by all workers; limits' notation ("600/minute")
    push_quiet_hours: str = ""  # e.g. "22:00-08:00" (Beijing time): no pushes then; empty: none
    push_max_tries: int = 5  # transient WeChat errors are retried with backoff this many times in all
    # Template ids registered with WeChat; the fields are in guides/templates/wechat/push.yml.
    wechat_template_complaint_answer: str | None = None  # 公众号 template message, outside the 48 hours
    mp_template_complaint_answer: str | None = None  # 小程序 subscribe message
    mp_complaint_page: str | None = None  # the mini-program page that subscribe message opens
    # 免申即享 notices: without the template id of a channel, that channel's users are not pushed.
    wechat_template_policy_notice: str | None = None  # 公众号 template message
    mp_template_policy_notice: str | None = None  # 小程序 subscribe message
    mp_policy_page: str | None = None  # the mini-program page it opens (the match id is appended)
    # Policy notices enqueued per sweep (every minute): above the send rate, so the queue never runs dry.
    push_sweep_batch: int = 2000
    # A job, a claim or a send (its wait for a rate slot, at most half the grace, and its WeChat call)
    # held longer than this is presumed dead and taken over; each must exceed the longest live one.
    push_job_timeout_seconds: float = 300.0
    push_lease_seconds: float = 120.0
    push_call_grace_seconds: float = 900.0
    # Jobs one worker process runs at once; each send waits on the database and on WeChat, not the CPU.
    worker_max_jobs: int = 50

    @field_validator("push_quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        QuietHours.parse(value)  # refuse to start with quiet hours that cannot be read
        return value

    @field_validator("push_rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        parse_rate(value)
        return value

    # The staff desk (/admin): server-side sessions, ended after this long in any case or when idle.
    admin_session_hours: float = 8.0
    admin_idle_minutes: float = 30.0
    # Failed logins per username and address within the window before further tries are refused.
    admin_login_max_failures: int = 5
    admin_login_window_minutes: float = 15.0


@lru_cache
def get_settings() -> Settings:
    return Settings()
