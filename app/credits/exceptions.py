from __future__ import annotations

from app.core.errors import AppError


class InsufficientCredits(AppError):
    status_code = 402
    code = "INSUFFICIENT_CREDITS"
    message = "You do not have enough credits for this."


class DebitNotApplied(RuntimeError):
    """A debit whose business key already names a ledger row: the work it pays for must not
    start. It means an id was reused or a job charged twice, never a user's mistake."""
