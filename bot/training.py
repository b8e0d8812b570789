"""Training the Rasa model only when what it learns from has changed.

The lookup data (jieba user dictionary and a lookup table of guide names) is generated from
guides/ first, and the model file is named by the hash of everything that goes into it, so a
second `make run` with nothing changed starts at once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
from pathlib import Path

import yaml

from bot.config import ROOT
from bot.guides.loader import load_directory

log = logging.getLogger(__name__)

BUILD = ROOT / "build"
# Trained models are named by the hash of their inputs, so one cache can serve every checkout.
MODELS = Path(os.environ.get("MODEL_CACHE_DIR", Path.home() / ".cache" / "yishiban" / "models"))
TRAINING_INPUTS = [ROOT / "config.yml", ROOT / "dialogues" / "domain.yml", ROOT / "dialogues" / "data"]


def rasa_bin(name: str = "rasa") -> Path:
    venv = Path(os.environ.get("RASA_VENV", ROOT / ".venv-rasa"))
    return venv / "bin" / name


def generate_lookups(guides_dir: Path, build: Path = BUILD) -> list[Path]:
    """Write build/jieba/userdict.txt and build/lookups/guides.yml from the guides' names."""
    loaded = load_directory(guides_dir)
    names: dict[str, None] = {}
    for guide in loaded.guides.values():
        for phrase in [guide.title, guide.title.removesuffix("一件事"), *guide.aliases, *guide.keywords]:
            if len(phrase) >= 2:
                names.setdefault(phrase, None)
        for material in guide.materials:
            names.setdefault(material.name, None)
            for alias in material.aliases:
                if len(alias) >= 2:
                    names.setdefault(alias, None)
    jieba_dir = build / "jieba"
    lookup_dir = build / "lookups"
    jieba_dir.mkdir(parents=True, exist_ok=True)
    lookup_dir.mkdir(parents=True, exist_ok=True)
    userdict = jieba_dir / "userdict.txt"
    # jieba's format: word, frequency, part of speech; high frequency keeps the word whole.
    words = sorted({n.replace(" ", "") for n in names if " " not in n and "\n" not in n})
    userdict.write_text("".join(f"{w} 2000 n\n" for w in words), encoding="utf-8")
    guide_names = sorted({n for g in loaded.guides.values() for n in [g.title, *g.aliases]})
    lookup = {"version": "3.1", "nlu": [{"lookup": "guide_name", "examples": "".join(f"- {n}\n" for n in guide_names)}]}
    lookup_file = lookup_dir / "guides.yml"
    lookup_file.write_text(
        "# Generated from guides/ by `python -m bot train`; do not edit.\n" + yaml.safe_dump(lookup, allow_unicode=True),
        encoding="utf-8",
    )
    return [userdict, lookup_file]


def _files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        elif path.exists():
            found.append(path)
    return found


def training_hash(build: Path = BUILD) -> str:
    digest = hashlib.sha256(b"rasa-3.6.21;")
    for path in _files([*TRAINING_INPUTS, build / "jieba", build / "lookups"]):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def model_path(digest: str) -> Path:
    return MODELS / f"yishiban-{digest}.tar.gz"


def ensure_model(guides_dir: Path, force: bool = False) -> Path:
    """Generate lookups, then train unless a model for exactly these inputs exists."""
    generate_lookups(guides_dir)
    digest = training_hash()
    target = model_path(digest)
    if target.exists() and not force:
        log.info("model up to date: %s", target.name)
        return target
    MODELS.mkdir(parents=True, exist_ok=True)
    command = [
        str(rasa_bin()), "train",
        "--config", "config.yml",
        "--domain", "dialogues/domain.yml",
        "--data", "dialogues/data", "build/lookups",
        "--out", str(MODELS),
        "--fixed-model-name", target.name.removesuffix(".tar.gz"),
    ]
    log.info("training the Rasa model (inputs changed): %s", " ".join(command))
    subprocess.run(command, cwd=ROOT, check=True)
    return target


def validate_data() -> None:
    generate_lookups(ROOT / "guides")
    subprocess.run(
        [str(rasa_bin()), "data", "validate", "--fail-on-warnings", "--config", "config.yml",
         "--domain", "dialogues/domain.yml", "--data", "dialogues/data", "build/lookups"],
        cwd=ROOT, check=True,
    )


def offline_endpoints() -> Path:
    """Endpoints for a Rasa that only parses or is tested: in-memory stores, no action server.

    Without a file of its own, Rasa would read ./endpoints.yml and its ${...} placeholders.
    """
    target = BUILD / "endpoints-offline.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("action_endpoint:\n  url: http://127.0.0.1:9/webhook\n", encoding="utf-8")
    return target


def run_story_tests(model: Path) -> None:
    """Rasa's own story test: does the trained model follow dialogues/tests/test_stories.yml?"""
    out = BUILD / "rasa-test-results"
    subprocess.run(
        [str(rasa_bin()), "test", "core", "--model", str(model), "--stories", "dialogues/tests/test_stories.yml",
         "--endpoints", str(offline_endpoints()), "--out", str(out), "--fail-on-prediction-errors"],
        cwd=ROOT, check=True,
    )
