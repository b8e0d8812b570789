"""Dependencies shared by the routers: the guides catalog, the dialogue service, the Rasa client."""

from __future__ import annotations

from fastapi import Request

from bot.channels.rasa import RasaClient
from bot.guides.catalog import Catalog, CatalogStore
from bot.guides.dialogue import GuideDialogue


def get_catalog(request: Request) -> Catalog:
    store: CatalogStore = request.app.state.catalog_store
    return store.get()


def get_dialogue(request: Request) -> GuideDialogue:
    return GuideDialogue(get_catalog(request))


def get_rasa(request: Request) -> RasaClient:
    return request.app.state.rasa
