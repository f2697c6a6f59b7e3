from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from app.core.schemas import InputModel


class CheckoutRequestBody(InputModel):
    quantity: Annotated[int, Field(ge=1, le=10_000, description="credits to buy")]


class CheckoutRead(BaseModel):
    session_id: str
    checkout_url: str


class TransactionRead(BaseModel):
    id: int
    session_id: str | None
    user_id: int
    product_id: str
    # What the customer paid (tax included), once paid; before that our list price. Major
    # units as the web app prints them (₹{amount}); amount_minor is the provider's integer.
    amount: float
    amount_minor: int
    currency: str
    tax_minor: int | None
    # What the merchant receives (adaptive currency: may differ from what was paid).
    settlement_amount_minor: int | None
    settlement_currency: str | None
    status: str
    quantity: int
    credits_added: int
    created_at: datetime


class WebhookAck(BaseModel):
    received: bool
