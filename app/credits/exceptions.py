from __future__ import annotations

from app.core.errors import AppError


class InsufficientCredits(AppError):
    status_code = 402
    code = "INSUFFICIENT_CREDITS"
    message = "You do not have enough credits for this."
