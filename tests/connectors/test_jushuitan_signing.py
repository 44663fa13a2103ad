from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.jushuitan.signing import encode_biz, sign_fields, signed_form, verify_sign

pytestmark = pytest.mark.unit

SECRET = "e9c5ca33fecb404b8e6cdbd0ef4a6d25"
APP_KEY = "5b53060f23d84ddf9703056e84fa5a2d"
TIMESTAMP = "1639128407"


def test_token_request_vector() -> None:
    fields = {
        "app_key": APP_KEY,
        "timestamp": TIMESTAMP,
        "grant_type": "authorization_code",
        "charset": "utf-8",
        "code": "123456",
    }
    assert sign_fields(SECRET, fields) == "05e3a51e19e0883afd1882ccd309e0b9"


def test_business_request_vector() -> None:
    biz = encode_biz({"page_index": "1", "page_size": "100", "nicks": ["老板"]})
    assert biz == '{"page_index":"1","page_size":"100","nicks":["老板"]}'
    fields = {
        "app_key": APP_KEY,
        "access_token": "d7b01bf0842a4742a9450e21ffd95f60",
        "timestamp": TIMESTAMP,
        "version": "2",
        "charset": "utf-8",
        "biz": biz,
    }
    assert sign_fields(SECRET, fields) == "395f5a78b446be465ac03a02491296c7"


def test_empty_values_and_existing_sign_are_ignored() -> None:
    base = {
        "app_key": APP_KEY,
        "timestamp": TIMESTAMP,
        "charset": "utf-8",
        "code": "123456",
        "grant_type": "authorization_code",
    }
    noisy = {**base, "refresh_token": "", "scope": None, "sign": "whatever"}
    assert sign_fields(SECRET, noisy) == sign_fields(SECRET, base)


def test_signed_form_round_trips_through_verify() -> None:
    form = signed_form(
        SECRET, {"app_key": APP_KEY, "timestamp": 1639128407, "biz": "{}", "access_token": ""}
    )
    assert "access_token" not in form
    assert form["timestamp"] == TIMESTAMP
    assert verify_sign(SECRET, form)
    assert not verify_sign(SECRET, {**form, "biz": '{"a":1}'})
    assert not verify_sign("other-secret", form)


@given(
    st.dictionaries(
        st.text("abcdefghij_", min_size=1, max_size=8), st.text(min_size=1, max_size=12), max_size=8
    )
)
def test_sign_does_not_depend_on_field_order(fields: dict[str, str]) -> None:
    reordered = dict(reversed(list(fields.items())))
    assert sign_fields(SECRET, fields) == sign_fields(SECRET, reordered)
    assert len(sign_fields(SECRET, fields)) == 32
