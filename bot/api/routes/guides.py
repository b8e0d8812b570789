"""/api/v1/guides: the published guides, for the mini-program and for tools."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel

from bot.api.deps import get_catalog
from bot.guides.catalog import Catalog
from bot.guides.schema import Guide

router = APIRouter(prefix="/api/v1/guides", tags=["guides"])
CurrentCatalog = Annotated[Catalog, Depends(get_catalog)]


class GuideSummary(BaseModel):
    id: str
    title: str
    audience: str
    lead_department: str
    summary: str
    time_limit_days: int


class GuideList(BaseModel):
    version: str
    guides: list[GuideSummary]


@router.get("")
def list_guides(catalog: CurrentCatalog) -> GuideList:
    return GuideList(
        version=catalog.version,
        guides=[
            GuideSummary(id=g.id, title=g.title, audience=g.audience, lead_department=g.lead_department,
                         summary=g.summary, time_limit_days=g.time_limit_days)
            for g in catalog.guides.values()
        ],
    )


@router.get("/{guide_id}")
def get_guide(guide_id: str, catalog: CurrentCatalog) -> Guide:
    guide = catalog.guide(guide_id)
    if guide is None:
        raise HTTPException(status_code=404, detail=f"没有找到事项 “{guide_id[:64]}”")
    return guide
