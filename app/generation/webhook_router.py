"""POST /api/v1/webhooks/replicate: Replicate reports finished predictions here (signed with
Standard Webhooks). Outside the rate-limited /api/v1 group, like the payment webhook."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from app.api.deps import ResourcesDep
from app.core.body_limit import webhook_body
from app.core.openapi import error_responses
from app.generation.exceptions import (
    GeneratorNotReplicate,
    InvalidWebhookSignatureError,
    ProviderUnavailable,
)
from app.generation.handlers import build_worker
from app.generation.predictions import PredictionWebhooks
from app.generation.result_keys import ResultKeys
from app.integrations.generator import GenerationFailed
from app.integrations.generator.replicate import ReplicateGenerator
from app.integrations.webhooks import InvalidWebhookSignature

replicate_webhook_router = APIRouter(prefix="/api/v1", tags=["generation"])


class PredictionWebhookAck(BaseModel):
    received: bool
    # What the report did: completed, failed, duplicate, running, already_final, ...
    outcome: str


def get_prediction_webhooks(resources: ResourcesDep) -> PredictionWebhooks:
    generator = resources.generator
    if not isinstance(generator, ReplicateGenerator):
        raise GeneratorNotReplicate()
    return PredictionWebhooks(
        database=resources.database,
        storage=resources.storage,
        generator=generator,
        worker=build_worker(resources),
        result_keys=ResultKeys.from_settings(resources.settings),
    )


PredictionWebhooksDep = Annotated[PredictionWebhooks, Depends(get_prediction_webhooks)]


# Capped like the payment webhook (MAX_WEBHOOK_BODY_BYTES): a finished prediction's report
# carries output URLs, not images.
@webhook_body
async def _replicate_webhook(
    request: Request, webhooks: PredictionWebhooksDep
) -> PredictionWebhookAck:
    """Verified over the raw body with the signing secret from Replicate's
    `GET /v1/webhooks/default/secret` (cached); each `webhook-id` acted on once. A report
    about a prediction we no longer wait for is answered 200 and changes nothing."""
    body = await request.body()
    try:
        envelope = await webhooks.verify(body, request.headers)
    except InvalidWebhookSignature:
        raise InvalidWebhookSignatureError() from None
    except GenerationFailed:
        # We could not read the signing secret: a 5xx makes Replicate deliver again later.
        raise ProviderUnavailable() from None
    outcome = await webhooks.receive(envelope, body)
    return PredictionWebhookAck(received=True, outcome=outcome)


# With and without a trailing slash: providers do not follow redirects (PAY-07).
for _path in ("/webhooks/replicate", "/webhooks/replicate/"):
    replicate_webhook_router.add_api_route(
        _path,
        _replicate_webhook,
        methods=["POST"],
        summary="Replicate prediction webhooks",
        name=f"replicate_webhook{_path.replace('/', '_')}",
        response_model=PredictionWebhookAck,
        responses=error_responses(
            "INVALID_SIGNATURE", "GENERATOR_NOT_REPLICATE", "PROVIDER_UNAVAILABLE"
        ),
        include_in_schema=_path == "/webhooks/replicate",
    )
