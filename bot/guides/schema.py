"""The schema of a 一件事 guide file and of the 电子证照目录 (guides/licences.yml).

A guide is data: staff edit it, the backend reads it at run time. Everything that decides what a
citizen must bring (which sub-items apply, which materials, which questions are asked) is declared
here as data. Conditions are small trees of comparisons on the answers to the guide's own
questions; they are never strings to evaluate.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

_CJK = "\u2018-\u201f\u3000-\u303f\u3400-\u9fff\uff00-\uffef"
_FOLDED_BREAK = re.compile(f"(?<=[{_CJK}])\\s+(?=[{_CJK}])")


def _join_folded_lines(text: str) -> str:
    """YAML folds a long line into “A B”; between two Chinese characters that space is wrong."""
    return _FOLDED_BREAK.sub("", text)


Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
LongText = Annotated[
    str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True), AfterValidator(_join_folded_lines)
]


class _Strict(BaseModel):
    # Unknown keys are errors: a misspelt key in a staff edit must not silently vanish.
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- conditions -----------------------------------------------------------------------------


class AnswerIs(_Strict):
    """True when the answer to `question` is `equals` (or one of `in`)."""

    question: Slug
    equals: Slug | None = None
    in_: list[Slug] | None = Field(default=None, alias="in")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_comparison(self) -> AnswerIs:
        if (self.equals is None) == (self.in_ is None):
            raise ValueError("条件须且只能写 equals 或 in 其中之一")
        return self

    def values(self) -> list[str]:
        return [self.equals] if self.equals is not None else list(self.in_ or [])


class AllOf(_Strict):
    all: list[Condition] = Field(min_length=1)


class AnyOf(_Strict):
    any: list[Condition] = Field(min_length=1)


class NotOf(_Strict):
    not_: Condition = Field(alias="not")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Condition = AnswerIs | AllOf | AnyOf | NotOf
AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()


# --- the 电子证照目录 ------------------------------------------------------------------------


class Licence(_Strict):
    """One entry of the 电子证照目录 (catalogue of licences and certificates)."""

    code: Slug
    name: ShortText
    issuer: ShortText  # 发证部门
    electronic: bool  # True: an e-licence is shared on the platform, so the paper one is 免提交
    note: str | None = None


class LicenceCatalog(_Strict):
    sample_notice: ShortText | None = None
    licences: list[Licence] = Field(min_length=1)


# --- a guide ---------------------------------------------------------------------------------


class Choice(_Strict):
    value: Slug
    title: ShortText  # what the button shows
    synonyms: list[ShortText] = []  # what people type instead of tapping


class Question(_Strict):
    id: Slug
    text: ShortText
    help: str | None = None  # one line on why it is asked
    choices: list[Choice] = Field(min_length=2, max_length=8)
    when: Condition | None = None  # asked only when this holds


class Material(_Strict):
    """A document the applicant may have to provide, defined once per guide (一套材料)."""

    id: Slug
    name: ShortText
    form: Literal["原件", "复印件", "原件及复印件", "电子版", "现场填写", "线上填写"] = "原件"
    copies: int = Field(default=1, ge=0, le=20)
    licence: Slug | None = None  # an entry of licences.yml; 免 when it is electronic
    shared_data: ShortText | None = None  # 免: checked through shared data (名称 of the source)
    produced_by: Slug | None = None  # 免 when that sub-item is in the same application
    deferrable: bool = False  # 容缺: may be submitted later under 告知承诺
    deferrable_note: str | None = None
    why: str | None = None  # answers “为什么要这个材料”
    note: str | None = None
    aliases: list[ShortText] = []  # how people name it (“准生证”, “户口本”)


class MaterialRef(_Strict):
    material: Slug
    when: Condition | None = None


class Item(_Strict):
    """A sub-item (涉及事项) of the 一件事, handled by one department."""

    id: Slug
    title: ShortText
    short_title: ShortText | None = None  # for buttons
    aliases: list[ShortText] = []  # how people name it when picking (“户口”, “社保卡”)
    department: ShortText
    time_limit_days: int | None = Field(default=None, ge=0, le=365)
    when: Condition | None = None  # the item applies only when this holds
    not_applicable_note: str | None = None  # told to the user when `when` fails
    optional: bool = False  # not pre-selected in 全部办理
    materials: list[MaterialRef] = []
    note: str | None = None


class Where(_Strict):
    window: ShortText  # 线下窗口
    address: ShortText
    hours: ShortText
    online: ShortText  # 豫事办 online path
    phone: ShortText | None = None


class Guide(_Strict):
    id: Slug
    title: ShortText  # as in the 2024 list, e.g. 新生儿出生一件事
    sample_notice: ShortText  # 样例内容，须经部门确认
    summary: LongText
    aliases: list[ShortText] = Field(min_length=1)  # how people say it
    keywords: list[ShortText] = []  # single words that point to it
    audience: Literal["个人", "企业"]
    lead_department: ShortText  # 牵头部门
    joint_departments: list[ShortText] = []  # 联办部门
    basis: list[ShortText] = Field(min_length=1)  # 设定依据
    acceptance: list[ShortText] = Field(min_length=1)  # 受理条件
    process: list[ShortText] = Field(min_length=1)  # 办理流程
    fees: ShortText  # 收费
    time_limit_days: int = Field(ge=0, le=365)  # 承诺时限, working days
    legal_time_limit_days: int | None = Field(default=None, ge=0, le=3650)  # 法定时限
    results: list[ShortText] = Field(min_length=1)  # 办理结果
    delivery: list[ShortText] = Field(min_length=1)  # 送达方式
    where: Where
    questions: list[Question] = []
    materials: list[Material] = Field(min_length=1)
    items: list[Item] = Field(min_length=1)

    def item(self, item_id: str) -> Item | None:
        return next((i for i in self.items if i.id == item_id), None)

    def material(self, material_id: str) -> Material | None:
        return next((m for m in self.materials if m.id == material_id), None)

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)
