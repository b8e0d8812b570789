"""Contact numbers: mainland mobiles and landlines only, checked with Google's libphonenumber.

Stored as E.164 (+8613812345678); shown to people as the national form (138****5678 when masked,
0373-****34 for a landline). The user may decline to give a number: that is ``None``, not an error.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from bot.store.privacy import mask

_ACCEPTED = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
INVALID = "联系电话格式不对：请填写11位手机号，或带区号的固定电话（如 0373-5551234）；不便留电话可以不填"


class InvalidPhone(ValueError):
    def __init__(self, message: str = INVALID) -> None:
        super().__init__(message)


def normalize_phone(raw: str | None) -> str | None:
    """E.164 for a valid mainland mobile or landline number; None for no number; InvalidPhone else.

    Accepts what people type: spaces, dashes, brackets, full-width digits, +86 or 0086.
    """
    if raw is None:
        return None
    text = raw.strip()
    if not text:
        return None
    if len(text) > 32:
        raise InvalidPhone()
    try:
        number = phonenumbers.parse(text, "CN")
    except NumberParseException as exc:
        raise InvalidPhone() from exc
    if (
        not phonenumbers.is_valid_number(number)
        or phonenumbers.region_code_for_number(number) != "CN"
        or phonenumbers.number_type(number) not in _ACCEPTED
    ):
        raise InvalidPhone()
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def national(e164: str) -> str:
    """13812345678 for a mobile, 0373-5551234 for a landline."""
    number = phonenumbers.parse(e164, "CN")
    digits = phonenumbers.national_significant_number(number)
    area = phonenumbers.length_of_geographical_area_code(number)
    if phonenumbers.number_type(number) == PhoneNumberType.MOBILE or not area:
        return digits
    return f"0{digits[:area]}-{digits[area:]}"


def masked(e164: str | None) -> str | None:
    """The number as it may appear in lists and logs: 138****5678, 0373-****34."""
    if not e164:
        return None
    try:
        return mask(national(e164))
    except NumberParseException:
        return mask(e164)
