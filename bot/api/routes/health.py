"""GET /healthz: liveness for load balancers and for `make run`'s wait loop."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from bot.api.deps import get_catalog, get_rasa
from bot.channels.rasa import RasaClient
from bot.guides.catalog import Catalog

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(
    catalog: Annotated[Catalog, Depends(get_catalog)],
    rasa: Annotated[RasaClient, Depends(get_rasa)],
    deep: bool = False,
) -> dict:
    result: dict = {"status": "ok", "guides": len(catalog.guides), "guides_version": catalog.version}
    if deep:
        result["rasa"] = "ok" if await rasa.ready() else "unavailable"
    return result
