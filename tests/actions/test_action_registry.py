"""The action server serves every custom action the domain lists, under the name the domain uses."""

from __future__ import annotations

import pytest
from rasa_sdk.executor import ActionExecutor

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_every_domain_action_is_served(actions, domain):
    executor = ActionExecutor()
    executor.register_package("actions")  # what `rasa run actions --actions actions` does

    missing = set(domain["actions"]) - set(executor.actions)
    assert not missing, f"listed in dialogues/domain.yml but not implemented in actions/: {sorted(missing)}"


async def test_form_validation_action_matches_the_form(actions, domain):
    action = actions.guide_actions.ValidateGuideForm()
    assert action.name() == "validate_guide_form"
    assert action.form_name() in domain["forms"]
    assert action.domain_slots(domain) == ["guide_items", "guide_question"]
    for slot in action.domain_slots(domain):
        assert callable(getattr(action, f"validate_{slot}", None)), slot
