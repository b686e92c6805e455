"""The authorization request and response, as JSON (and in the OpenAPI document).

The request carries a transaction in the fields the simulator and the Kaggle layout use
(the Kaggle names are accepted too: ``cc_num``, ``amt``, ``merch_lat``, ...). Types are
checked here; what a value may be (a valid card number, an amount, a time the event-time
policy accepts, text without control characters) is checked by the same code and SQL as
the stream's (:func:`producer.records.problem`, ``ingest.accept_batch``), so the API
accepts exactly what the stream accepts.

>>> body = {"trans_num": "t1", "transacted_at": "2026-12-01T10:00:00Z",
...         "card_number": "4111111111111111", "amount": "12.5", "merchant": "m",
...         "category": "grocery_pos", "merchant_lat": 40.0, "merchant_long": -74.0}
>>> request = AuthorizationRequest.model_validate(body)
>>> tx = request.transaction("t1")
>>> tx.amount, tx.transacted_at.isoformat()
(Decimal('12.5'), '2026-12-01T10:00:00+00:00')
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from producer.records import MAX_TEXT, CardTransaction, Rejection

Decision = Literal["approve", "review", "decline"]


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class AuthorizationRequest(BaseModel):
    """A card transaction awaiting authorization."""

    model_config = ConfigDict(allow_inf_nan=False, populate_by_name=True,
                              json_schema_extra={"additionalProperties": True})

    trans_num: str | None = Field(
        None, max_length=MAX_TEXT["trans_num"],
        description="The client's unique id of this transaction: the idempotency key (or "
                    "send it as the Idempotency-Key header).")
    transacted_at: AwareDatetime = Field(
        validation_alias=_alias("transacted_at", "trans_date_trans_time"),
        description="When the transaction happened, ISO 8601 with a time zone.")
    card_number: str = Field(
        max_length=64, validation_alias=_alias("card_number", "cc_num", "pan"),
        description="The card number (PAN). It never leaves the server in clear: tokenized "
                    "with a keyed hash before anything is stored or logged.")
    amount: Decimal = Field(validation_alias=_alias("amount", "amt"),
                            description="Amount, rounded to cents (a string keeps it exact).")
    merchant: str = Field(max_length=MAX_TEXT["merchant"])
    category: str = Field(max_length=MAX_TEXT["category"])
    merchant_lat: float = Field(validation_alias=_alias("merchant_lat", "merch_lat"))
    merchant_long: float = Field(validation_alias=_alias("merchant_long", "merch_long"))
    home_lat: float | None = Field(None, validation_alias=_alias("home_lat", "lat"))
    home_long: float | None = Field(None, validation_alias=_alias("home_long", "long"))
    city_pop: int | None = None
    birth_date: dt.date | None = Field(None, validation_alias=_alias("birth_date", "dob"))

    def transaction(self, trans_num: str) -> CardTransaction:
        return CardTransaction(
            trans_num, self.transacted_at, self.card_number, self.amount, self.merchant,
            self.category, self.merchant_lat, self.merchant_long, self.home_lat,
            self.home_long, self.city_pop, self.birth_date)


class Reason(BaseModel):
    """A feature that pushed the score up (LightGBM SHAP value, log-odds): the same
    reason codes as alerts."""

    feature: str
    value: float | None
    contribution: float


class AuthorizationResponse(BaseModel):
    transaction_id: int | None = Field(
        description="The stored transaction; null when the fallback answered before it was "
                    "stored (it is stored and recorded as a fallback as soon as it can be).")
    trans_num: str
    decision: Decision
    score: float | None = Field(description="The champion's fraud probability, 0-1.")
    reasons: list[Reason] = Field(description="Top features behind a review or decline.")
    model_version: int | None
    is_fallback: bool = Field(description="The configured fallback answered (deadline, no "
                                          "champion, error), not the model.")
    fallback_reason: Literal["deadline", "no_champion", "error"] | None = None
    is_replay: bool = Field(False, description="A retry: the decision stored for this "
                                               "trans_num, unchanged.")
    latency_ms: float = Field(description="Server-side: request received to answer ready.")


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """Why a request was not decided (401, 409, 413, 422)."""

    error: str
    detail: str
    errors: list[FieldError] = []
    quarantined: bool = False


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors without the input values (a card number must not echo back)."""
    return [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)]


def rejection_for(errors: list[dict[str, Any]]) -> Rejection:
    """The quarantine reason for a body that does not validate."""
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    reason = "missing_field" if first["type"] == "missing" else "bad_field"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return Rejection(reason, f"{where}: {first['msg']}{more}")
