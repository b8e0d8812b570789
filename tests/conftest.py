"""Shared test set-up. tests/actions runs in the Rasa venv (rasa_sdk), not in the app's."""

from __future__ import annotations

import importlib.util

collect_ignore = [] if importlib.util.find_spec("rasa_sdk") else ["actions"]
