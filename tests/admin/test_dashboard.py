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
    assert (data.total, data.failed) == (4, 1)
    assert data.failure_rate == 0.25
    assert data.top_failures == [("GENERATION_TIMEOUT", 1)]
    assert (data.median_s, data.p95_s) == (4.0, 6.0)
    assert data.revenue == [("USD", 7, 1)]
    assert data.active_users == 2
    assert data.per_day[-1].completed == 3
    await sign_in_bootstrap(client, settings)
    page = await client.get("/admin/dashboard", params={"days": "7"})
    assert page.status_code == 200
    assert page.text.count('<svg xmlns="http://www.w3.org/2000/svg" class="hairtryon-chart"') == 4
    assert "25.0%" in page.text
    assert "GENERATION_TIMEOUT" in page.text
    assert "<td>USD</td><td>7</td>" in page.text
    odd = await client.get("/admin/dashboard", params={"days": "lots"})
    assert odd.status_code == 200
    assert (await client.get("/admin/")).headers["location"].endswith("/admin/dashboard")
