"""Settings from the environment (and an optional .env file); secrets never live in the code."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    bot_port: int = 8000
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_timeout_seconds: float = 20.0
    guides_dir: Path = ROOT / "guides"
    database_url: str = f"sqlite:///{ROOT / 'var' / 'yishiban.db'}"
    redis_url: str | None = None
    max_text_chars: int = 500  # a chat message longer than this is refused with a clear note
    guides_check_interval: float = 1.0


@lru_cache
def get_settings() -> Settings:
    return Settings()
