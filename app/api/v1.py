"""The /api/v1 router: each domain's router is included here."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.api.deps import default_rate_limit
from app.auth.google_router import router as google_router
from app.auth.router import router as auth_router
from app.files.router import router as files_router
from app.generation.router import router as generation_router
from app.generation.router import user_images_router
from app.payments.local_router import router as local_checkout_router
from app.payments.router import alias_router as payment_alias_router
from app.payments.router import pricing_router
from app.payments.router import router as payments_router
from app.privacy.router import router as privacy_router
from app.sharing.router import router as sharing_router
from app.styles.router import router as styles_router
from app.users.router import router as users_router

api_router = APIRouter(prefix="/api/v1", dependencies=[Depends(default_rate_limit)])
api_router.include_router(auth_router)
api_router.include_router(google_router)
api_router.include_router(users_router)
api_router.include_router(privacy_router)
api_router.include_router(files_router)
# Styles first: /image/styles must not be taken for /image/{image_id}.
api_router.include_router(styles_router)
api_router.include_router(generation_router)
api_router.include_router(sharing_router)
api_router.include_router(user_images_router)
api_router.include_router(payments_router)
api_router.include_router(pricing_router)
api_router.include_router(payment_alias_router)
api_router.include_router(local_checkout_router)
