"""The dashboard: figures from the database and server-rendered SVG charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.charts import horizontal_bars
from app.admin.service import DashboardService, percentile
from app.core.config import Settings
from app.models import Image, ImageStatus, Transaction, TransactionStatus
from app.resources import Resources
from tests.admin.panel import sign_in_bootstrap
from tests.factories import create_user


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 21)]
    assert percentile(values, 0.95) == 19.0
    assert percentile(values, 0.5) == 10.0
    assert percentile([], 0.95) is None


def test_chart_labels_are_escaped() -> None:
    svg = str(horizontal_bars("codes", [("<script>alert(1)</script>", 3.0)], "#000"))
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg


async def _image(
    session: AsyncSession, user_id: int, status: ImageStatus, code: str | None, taken: float | None
) -> None:
    session.add(
        Image(
            user_id=user_id,
            style_name="Bob",
            description="d",
            input_key="uploads/x.jpg",
            status=status,
            error_code=code,
            time_taken=taken,
            deadline_at=datetime.now(UTC) + timedelta(minutes=5),
        )
    )


async def test_dashboard_counts_generations_failures_times_credits_and_revenue(
    session: AsyncSession, resources: Resources, client: httpx.AsyncClient, settings: Settings
) -> None:
    # Tests elsewhere commit images of their own (real concurrency needs real commits): count
    # what this test adds on top of what is there.
    before = await DashboardService(resources.database.unit_of_work).build(7)
    user = await create_user(session)
    other = await create_user(session)
    for taken in (2.0, 4.0, 6.0):
        await _image(session, user.id, ImageStatus.COMPLETED, None, taken)
    await _image(session, other.id, ImageStatus.FAILED, "GENERATION_TIMEOUT", None)
    session.add(
        Transaction(
            user_id=user.id,
            product_id="p",
            quantity=5,
            amount_minor=590,
            currency="INR",
            tax_minor=90,
            settlement_amount_minor=7,
            settlement_currency="USD",
            status=TransactionStatus.SUCCEEDED,
            credits_added=5,
        )
    )
    await session.commit()
    data = await DashboardService(resources.database.unit_of_work).build(7)
    assert len(data.per_day) == 7
    assert (data.total - before.total, data.failed - before.failed) == (4, 1)
    assert data.per_day[-1].completed - before.per_day[-1].completed == 3
    assert data.active_users - before.active_users == 2
    timeouts_before = dict(before.top_failures).get("GENERATION_TIMEOUT", 0)
    assert dict(data.top_failures)["GENERATION_TIMEOUT"] == timeouts_before + 1
    usd_before = {currency: (amount, count) for currency, amount, count in before.revenue}
    usd_amount, usd_count = usd_before.get("USD", (0, 0))
    assert ("USD", usd_amount + 7, usd_count + 1) in data.revenue
    if before.total == 0:
        # The figures below are exact only on an otherwise empty database.
        assert data.failure_rate == 0.25
        assert (data.median_s, data.p95_s) == (4.0, 6.0)
    await sign_in_bootstrap(client, settings)
    page = await client.get("/admin/dashboard", params={"days": "7"})
    assert page.status_code == 200
    assert page.text.count('<svg xmlns="http://www.w3.org/2000/svg" class="hairtryon-chart"') == 4
    assert "%" in page.text
    assert "GENERATION_TIMEOUT" in page.text
    assert f"<td>USD</td><td>{usd_amount + 7}</td>" in page.text
    odd = await client.get("/admin/dashboard", params={"days": "lots"})
    assert odd.status_code == 200
    assert (await client.get("/admin/")).headers["location"].endswith("/admin/dashboard")
