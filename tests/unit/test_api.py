"""The API's pure parts: decision thresholds, bearer headers, the request schema."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from pgfraud.api.schema import AuthorizationRequest, field_errors, rejection_for
from pgfraud.api.service import Policy
from pgfraud.api.tokens import TokenBook, new_token, token_sha256
from pgfraud.kernel.errors import PgfraudError

BODY = {"trans_num": "t1", "transacted_at": "2026-12-01T10:00:00+01:00",
        "card_number": "4111111111111111", "amount": "12.50", "merchant": "m",
        "category": "grocery_pos", "merchant_lat": 40.0, "merchant_long": -74.0}


@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_decisions_are_monotone_in_the_score(a: float, b: float, threshold: float) -> None:
    policy = Policy(decline_at=0.9)
    order = {"approve": 0, "review": 1, "decline": 2}
    low, high = sorted((a, b))
    assert order[policy.decide(low, threshold)] <= order[policy.decide(high, threshold)]


def test_review_defaults_to_the_champions_alert_threshold() -> None:
    assert Policy().decide(0.30, 0.30) == "review"
    assert Policy().decide(0.29, 0.30) == "approve"
    assert Policy(review_at=0.5).decide(0.4, 0.3) == "approve"
    assert Policy(decline_at=0.8).decide(0.8, 0.3) == "decline"


@pytest.mark.parametrize("bad", [{"review_at": 0.95, "decline_at": 0.9}, {"decline_at": 1.5},
                                 {"fallback": "maybe"}, {"deadline_s": 0}])
def test_an_inconsistent_policy_is_a_clear_error(bad: dict[str, object]) -> None:
    with pytest.raises(PgfraudError):
        Policy(**bad)  # type: ignore[arg-type]


def test_bearer_tokens_are_found_by_hash_only() -> None:
    book = TokenBook()
    token = new_token()
    book._clients = {token_sha256(token): 7}
    assert book.client_id(f"Bearer {token}") == 7
    assert book.client_id(f"bearer   {token}  ") == 7
    for header in (None, "", token, f"Basic {token}", "Bearer ", f"Bearer {token}x"):
        assert book.client_id(header) is None


def test_kaggle_names_are_accepted_and_a_time_needs_a_zone() -> None:
    kaggle = {"trans_num": "k", "trans_date_trans_time": "2026-12-01T10:00:00Z",
              "cc_num": "4111111111111111", "amt": 3.5, "merchant": "m", "category": "c",
              "merch_lat": 1.0, "merch_long": 2.0, "lat": 3.0, "long": 4.0,
              "dob": "1980-01-02", "first": "Jo", "street": "1 Main St"}
    tx = AuthorizationRequest.model_validate(kaggle).transaction("k")
    assert (tx.pan, tx.home_lat, str(tx.birth_date)) == ("4111111111111111", 3.0, "1980-01-02")
    with pytest.raises(ValidationError) as caught:
        AuthorizationRequest.model_validate({**BODY, "transacted_at": "2026-12-01T10:00:00"})
    assert rejection_for(field_errors(caught.value)).reason == "bad_field"


def test_field_errors_never_echo_the_input() -> None:
    with pytest.raises(ValidationError) as caught:
        AuthorizationRequest.model_validate({**BODY, "amount": "4111111111111111x",
                                             "merchant_lat": "4111 1111 1111 1111"})
    errors = field_errors(caught.value)
    assert "4111" not in str(errors)
    assert rejection_for(errors).detail.startswith("amount:")
    with pytest.raises(ValidationError) as caught:
        AuthorizationRequest.model_validate({k: v for k, v in BODY.items() if k != "merchant"})
    assert rejection_for(field_errors(caught.value)).reason == "missing_field"
