from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from app.core.schemas import InputModel
from app.core.types import Count

MIN_QUANTITY = 1
MAX_QUANTITY = 10_000


class CheckoutRequestBody(InputModel):
    quantity: Annotated[
        Count, Field(ge=MIN_QUANTITY, le=MAX_QUANTITY, description="credits to buy")
    ]


class CheckoutRead(BaseModel):
    session_id: str
    checkout_url: str


class PricingRead(BaseModel):
    """The price per credit as the provider's product sets it."""

    product_id: str
    price_minor: int = Field(description="price of one credit in the currency's minor units")
    price: float = Field(description="the same in major units, as the web app prints it")
    currency: str = Field(description="ISO 4217 code of the product's price")
    tax_inclusive: bool = Field(
        description="false: tax for the buyer's address is added at checkout"
    )
    min_quantity: int = Field(description="fewest credits one checkout buys")
    max_quantity: int = Field(description="most credits one checkout buys")


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
