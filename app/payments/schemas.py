from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from app.core.schemas import InputModel
from app.core.types import Count


class CheckoutRequestBody(InputModel):
    quantity: Annotated[Count, Field(ge=1, le=10_000, description="credits to buy")]


class CheckoutRead(BaseModel):
    session_id: str
    checkout_url: str


class TransactionRead(BaseModel):
    id: int
    session_id: str | None
    user_id: int
    product_id: str
    # Major units, as the web app prints them (₹{amount}); amount_minor is the provider's.
    amount: float
    amount_minor: int
    currency: str
    status: str
    quantity: int
    credits_added: int
    created_at: datetime


class WebhookAck(BaseModel):
    received: bool
