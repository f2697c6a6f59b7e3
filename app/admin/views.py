"""The sqladmin views. Money tables (transactions, webhook events, the ledger, the audit log)
are read-only here: no create, edit or delete route answers for them (CFG-05). Everything
that moves money or jobs is an action: a page asking for a reason, whose POST goes through
AdminService (ledger, job queue, payments service) and writes the audit row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, get_args

from sqladmin import BaseView, ModelView, action, expose

# Users are filtered by id, never with a list of every account (ForeignKeyFilter would load
# all users on each list page).
from sqladmin.filters import (
    AllUniqueStringValuesFilter,
    ForeignKeyFilter,
    OperationColumnFilter,
    StaticValuesFilter,
)
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from wtforms import SelectField  # type: ignore[import-untyped]

from app.admin.guard import csrf_token
from app.admin.identity import AdminIdentity, current_admin
from app.admin.service import (
    AdminActionRefused,
    AdminService,
    DashboardService,
    check_style_fields,
    clean_reason,
    parse_amount,
)
from app.core.errors import AppError
from app.files.intake import read_capped
from app.integrations.generator.port import FailureCode
from app.models import (
    AdminAudit,
    AuthSession,
    CreditLedgerEntry,
    CreditReason,
    DeadLetter,
    Image,
    ImageStatus,
    Style,
    StyleCategory,
    StyleGender,
    StyleLength,
    Transaction,
    TransactionStatus,
    User,
    UserRole,
    WebhookEvent,
)

if TYPE_CHECKING:
    from app.resources import Resources

ResourcesGetter = Callable[[], "Resources"]


def resources_of(request: Request) -> Resources:
    """The process's resources, found through the admin app serving this request (each app
    mounts its own panel: tests build several in one process)."""
    getter: ResourcesGetter = request.app.state.resources_of
    return getter()


def admin_service(request: Request) -> AdminService:
    resources = resources_of(request)
    return AdminService(
        units=resources.database.unit_of_work,
        storage=resources.storage,
        image_policy=resources.image_policy,
        queue=resources.queue,
        settings=resources.settings,
    )


def _pks(request: Request, form: Any = None) -> list[str]:
    raw = form.get("pks") if form is not None else request.query_params.get("pks")
    text = raw if isinstance(raw, str) else ""
    return [pk for pk in (part.strip() for part in text.split(",")) if pk][:100]


def _int_pks(pks: list[str]) -> list[int]:
    try:
        return [int(pk) for pk in pks]
    except ValueError:
        raise AdminActionRefused("Those ids are not numbers.") from None


async def action_page(
    view: ModelView,
    request: Request,
    *,
    heading: str,
    explanation: str,
    run: Callable[[AdminIdentity, list[str], Any, str], Awaitable[list[str]]],
    amount: bool = False,
    upload: bool = False,
) -> Response:
    """GET: the form (ids, reason, maybe an amount or a file). POST: run it for each id and
    show what happened; a refused action says why and changes nothing."""
    context: dict[str, Any] = {
        "model_view": view,
        "title": heading,
        "heading": heading,
        "explanation": explanation,
        "amount": amount,
        "upload": upload,
        "csrf": csrf_token(request.session),
        "back_url": str(request.url_for("admin:list", identity=view.identity)),
        "results": [],
        "error": None,
    }
    status = 200
    if request.method == "POST":
        form = await request.form()
        pks = _pks(request, form)
        context["pks"] = ",".join(pks)
        try:
            if not pks:
                raise AdminActionRefused("Select at least one row.")
            reason = clean_reason(form.get("reason"))
            context["results"] = await run(current_admin(request), pks, form, reason)
        except AppError as exc:
            context["error"] = exc.detail_message
            status = exc.status_code
        finally:
            await form.close()
    else:
        context["pks"] = ",".join(_pks(request))
    return await view.templates.TemplateResponse(
        request, "hairtryon/action.html", context, status_code=status
    )


def _to_form(view: ModelView, request: Request, name: str) -> Response:
    url = request.url_for(f"admin:view-{view.identity}-{name}").include_query_params(
        pks=request.query_params.get("pks", "")
    )
    return RedirectResponse(str(url), status_code=302)


class ReadOnlyView(ModelView):
    """Nothing created, edited, deleted or exported by hand."""

    can_create = False
    can_edit = False
    can_delete = False
    can_export = False
    can_import = False


class UserAdmin(ModelView, model=User):
    name = "User"
    name_plural = "Users"
    icon = "fa-solid fa-user"
    column_list = (User.id, User.email, User.name, User.credits, User.role, User.verified)
    column_searchable_list = (User.email, User.name)
    column_sortable_list = (User.id, User.email, User.credits, User.created_at)
    column_default_sort = (User.id, True)
    column_details_exclude_list = (User.hashed_password,)
    # Credits change only through the ledger (the action below); sign-in data is the user's.
    form_columns = (User.name, User.verified, User.role)
    form_overrides: ClassVar[dict[str, Any]] = {"role": SelectField}
    form_args: ClassVar[dict[str, dict[str, Any]]] = {
        "role": {"choices": [(role.value, role.value) for role in UserRole]}
    }
    can_create = False
    can_delete = False
    can_export = False
    can_import = False

    @action(name="credits", label="Grant / deduct credits", add_in_list=True)
    async def credits_action(self, request: Request) -> Response:
        return _to_form(self, request, "credits_form")

    @expose("/credits", methods=["GET", "POST"])
    async def credits_form(self, request: Request) -> Response:
        async def run(admin: AdminIdentity, pks: list[str], form: Any, reason: str) -> list[str]:
            amount = parse_amount(form.get("amount"))
            return [
                await admin_service(request).adjust_credits(admin, user_id, amount, reason)
                for user_id in _int_pks(pks)
            ]

        return await action_page(
            self,
            request,
            heading="Grant or deduct credits",
            explanation="A positive amount grants, a negative one deducts. Each change is a "
            "ledger row noting you and the reason.",
            run=run,
            amount=True,
        )


class StyleAdmin(ModelView, model=Style):
    name = "Style"
    name_plural = "Styles"
    icon = "fa-solid fa-scissors"
    column_list = (
        Style.id,
        Style.name,
        Style.category,
        Style.gender,
        Style.length,
        Style.tags,
        Style.sort_order,
        Style.is_active,
    )
    column_searchable_list = (Style.name,)
    column_sortable_list = (Style.id, Style.name, Style.sort_order)
    column_default_sort = (Style.sort_order, False)
    form_columns = (
        Style.name,
        Style.description,
        Style.prompt,
        Style.category,
        Style.sort_order,
        Style.is_active,
        Style.palette,
        Style.length,
        Style.texture,
        Style.gender,
        Style.tags,
        Style.thumbnail,
    )
    # The create form asks for the thumbnail (a required column); an edit replaces it through
    # the upload action, which goes through image intake.
    form_create_rules: ClassVar[list[str]] = [
        "name",
        "description",
        "prompt",
        "category",
        "sort_order",
        "is_active",
        "palette",
        "length",
        "texture",
        "gender",
        "tags",
        "thumbnail",
    ]
    form_edit_rules: ClassVar[list[str]] = form_create_rules[:-1]
    form_overrides: ClassVar[dict[str, Any]] = {
        "category": SelectField,
        "gender": SelectField,
        "length": SelectField,
    }
    form_args: ClassVar[dict[str, dict[str, Any]]] = {
        "category": {"choices": [(c.value, c.value) for c in StyleCategory]},
        # Checked (and a missing value defaulted) in on_model_change, like the palette, so a
        # refusal is one clear message on the form.
        "gender": {
            "choices": [(g.value, g.value) for g in StyleGender],
            "default": StyleGender.UNISEX.value,
            "validate_choice": False,
        },
        "length": {"choices": [(n.value, n.value) for n in StyleLength], "validate_choice": False},
        "tags": {"description": "comma-separated, lower-case: curls, low-maintenance"},
        "thumbnail": {
            "description": "static/styles/<file> or a storage key; upload one with "
            "'Replace thumbnail' afterwards",
            "default": "static/styles/classic-bob.jpg",
        },
    }
    can_delete = False  # images keep a link to their style; deactivate instead
    can_export = False
    can_import = False

    async def on_model_change(
        self, data: dict[str, Any], model: Any, is_created: bool, request: Request
    ) -> None:
        # A ValueError here is shown on the form and nothing is saved.
        check_style_fields(data)

    @action(name="thumbnail", label="Replace thumbnail", add_in_list=False)
    async def thumbnail_action(self, request: Request) -> Response:
        return _to_form(self, request, "thumbnail_form")

    @expose("/thumbnail", methods=["GET", "POST"])
    async def thumbnail_form(self, request: Request) -> Response:
        async def run(admin: AdminIdentity, pks: list[str], form: Any, reason: str) -> list[str]:
            upload = form.get("thumbnail")
            if not isinstance(upload, UploadFile):
                raise AdminActionRefused("Choose an image file.")
            limit = resources_of(request).settings.max_image_bytes
            data = await read_capped(_chunks(upload), limit)
            return [
                await admin_service(request).replace_thumbnail(admin, style_id, data, reason)
                for style_id in _int_pks(pks)[:1]
            ]

        return await action_page(
            self,
            request,
            heading="Replace the thumbnail",
            explanation="JPEG, PNG or WebP; checked and re-encoded like every upload.",
            run=run,
            upload=True,
        )


async def _chunks(upload: UploadFile) -> Any:
    while chunk := await upload.read(64 * 1024):
        yield chunk


class ImageAdmin(ReadOnlyView, model=Image):
    name = "Image"
    name_plural = "Images"
    icon = "fa-solid fa-image"
    column_list = (
        Image.id,
        Image.user_id,
        Image.style_name,
        Image.status,
        Image.error_code,
        Image.attempts,
        Image.time_taken,
        Image.created_at,
    )
    column_sortable_list = (Image.id, Image.created_at, Image.time_taken)
    column_default_sort = (Image.id, True)
    column_filters: ClassVar[list[Any]] = [
        StaticValuesFilter(Image.status, [(s.value, s.value) for s in ImageStatus]),
        OperationColumnFilter(Image.user_id, title="User id"),
        ForeignKeyFilter(Image.style_id, Style.name, title="Style"),
        StaticValuesFilter(
            Image.error_code, [(c, c) for c in get_args(FailureCode)], title="Failure code"
        ),
    ]
    details_template = "hairtryon/image_details.html"

    async def details_context(self, request: Request) -> dict[str, Any]:
        """Input and output as signed URLs: the objects themselves stay private."""
        image = await self.get_object_for_details(request)
        if image is None:
            return {}
        storage = resources_of(request).storage
        links: list[tuple[str, str]] = []
        for label, key in (
            ("Input", image.input_key),
            ("Reference", image.reference_key),
            ("Output", image.output_key),
            ("Right", image.right_view_key),
            ("Left", image.left_view_key),
            ("Back", image.back_view_key),
        ):
            if key:
                links.append((label, await storage.url_for(key)))
        return {"media_links": links}

    @action(name="retry", label="Retry", add_in_list=True)
    async def retry_action(self, request: Request) -> Response:
        return _to_form(self, request, "retry_form")

    @expose("/retry", methods=["GET", "POST"])
    async def retry_form(self, request: Request) -> Response:
        async def run(admin: AdminIdentity, pks: list[str], form: Any, reason: str) -> list[str]:
            return [
                await admin_service(request).retry_image(admin, image_id, reason)
                for image_id in _int_pks(pks)
            ]

        return await action_page(
            self,
            request,
            heading="Retry failed generations",
            explanation="Queues the job again, free for the user (the failure was refunded).",
            run=run,
        )

    @action(name="refund", label="Refund", add_in_list=True)
    async def refund_action(self, request: Request) -> Response:
        return _to_form(self, request, "refund_form")

    @expose("/refund", methods=["GET", "POST"])
    async def refund_form(self, request: Request) -> Response:
        async def run(admin: AdminIdentity, pks: list[str], form: Any, reason: str) -> list[str]:
            return [
                await admin_service(request).refund_image(admin, image_id, reason)
                for image_id in _int_pks(pks)
            ]

        return await action_page(
            self,
            request,
            heading="Refund generations",
            explanation="Gives the generation's credit back through the ledger, once per image.",
            run=run,
        )


class TransactionAdmin(ReadOnlyView, model=Transaction):
    name = "Transaction"
    name_plural = "Transactions"
    icon = "fa-solid fa-receipt"
    column_list = (
        Transaction.id,
        Transaction.user_id,
        Transaction.status,
        Transaction.quantity,
        Transaction.amount_minor,
        Transaction.tax_minor,
        Transaction.currency,
        Transaction.settlement_amount_minor,
        Transaction.settlement_currency,
        Transaction.refunded_minor,
        Transaction.credits_added,
        Transaction.created_at,
    )
    column_labels: ClassVar[dict[Any, str]] = {
        Transaction.amount_minor: "paid (minor units, tax incl.)",
        Transaction.tax_minor: "tax",
        Transaction.settlement_amount_minor: "settles (minor units)",
    }
    column_searchable_list = (Transaction.payment_id, Transaction.session_id)
    column_default_sort = (Transaction.id, True)
    column_filters: ClassVar[list[Any]] = [
        StaticValuesFilter(Transaction.status, [(s.value, s.value) for s in TransactionStatus]),
        OperationColumnFilter(Transaction.user_id, title="User id"),
    ]


class WebhookEventAdmin(ReadOnlyView, model=WebhookEvent):
    name = "Webhook event"
    name_plural = "Webhook events"
    icon = "fa-solid fa-inbox"
    column_list = (
        WebhookEvent.id,
        WebhookEvent.event_type,
        WebhookEvent.payment_id,
        WebhookEvent.outcome,
        WebhookEvent.received_at,
    )
    column_searchable_list = (WebhookEvent.payment_id, WebhookEvent.webhook_id)
    column_default_sort = (WebhookEvent.id, True)
    column_filters: ClassVar[list[Any]] = [
        AllUniqueStringValuesFilter(WebhookEvent.outcome, title="Outcome")
    ]

    @action(name="reprocess", label="Reprocess", add_in_list=True)
    async def reprocess_action(self, request: Request) -> Response:
        return _to_form(self, request, "reprocess_form")

    @expose("/reprocess", methods=["GET", "POST"])
    async def reprocess_form(self, request: Request) -> Response:
        async def run(admin: AdminIdentity, pks: list[str], form: Any, reason: str) -> list[str]:
            return [
                await admin_service(request).reprocess_webhook(admin, event_id, reason)
                for event_id in _int_pks(pks)
            ]

        return await action_page(
            self,
            request,
            heading="Reprocess webhook events",
            explanation="Only events that could not be matched to a transaction are applied "
            "again; the effect is idempotent (a granted payment grants nothing more).",
            run=run,
        )


class CreditLedgerAdmin(ReadOnlyView, model=CreditLedgerEntry):
    name = "Ledger entry"
    name_plural = "Credit ledger"
    icon = "fa-solid fa-book"
    column_list = (
        CreditLedgerEntry.id,
        CreditLedgerEntry.user_id,
        CreditLedgerEntry.delta,
        CreditLedgerEntry.reason,
        CreditLedgerEntry.balance_after,
        CreditLedgerEntry.note,
        CreditLedgerEntry.created_at,
    )
    column_searchable_list = (CreditLedgerEntry.business_key, CreditLedgerEntry.note)
    column_default_sort = (CreditLedgerEntry.id, True)
    column_filters: ClassVar[list[Any]] = [
        StaticValuesFilter(CreditLedgerEntry.reason, [(r.value, r.value) for r in CreditReason]),
        OperationColumnFilter(CreditLedgerEntry.user_id, title="User id"),
    ]


class AuthSessionAdmin(ReadOnlyView, model=AuthSession):
    name = "Session"
    name_plural = "Sessions"
    icon = "fa-solid fa-key"
    column_list = (
        AuthSession.id,
        AuthSession.user_id,
        AuthSession.created_at,
        AuthSession.expires_at,
        AuthSession.revoked_at,
        AuthSession.revoked_reason,
    )
    column_details_exclude_list = (AuthSession.current_jti, AuthSession.previous_jti)
    column_default_sort = (AuthSession.created_at, True)
    column_filters: ClassVar[list[Any]] = [
        OperationColumnFilter(AuthSession.user_id, title="User id")
    ]

    @action(name="revoke", label="Revoke", add_in_list=True)
    async def revoke_action(self, request: Request) -> Response:
        return _to_form(self, request, "revoke_form")

    @expose("/revoke", methods=["GET", "POST"])
    async def revoke_form(self, request: Request) -> Response:
        async def run(admin: AdminIdentity, pks: list[str], form: Any, reason: str) -> list[str]:
            return [
                await admin_service(request).revoke_session(admin, session_id, reason)
                for session_id in pks
            ]

        return await action_page(
            self,
            request,
            heading="Revoke sessions",
            explanation="The user is signed out on that device at their next request.",
            run=run,
        )


class AdminAuditAdmin(ReadOnlyView, model=AdminAudit):
    name = "Audit entry"
    name_plural = "Admin audit"
    icon = "fa-solid fa-clipboard-list"
    column_list = (
        AdminAudit.id,
        AdminAudit.created_at,
        AdminAudit.admin_name,
        AdminAudit.action,
        AdminAudit.target_type,
        AdminAudit.target_id,
        AdminAudit.reason,
        AdminAudit.detail,
    )
    column_default_sort = (AdminAudit.id, True)
    column_filters: ClassVar[list[Any]] = [
        AllUniqueStringValuesFilter(AdminAudit.action, title="Action")
    ]


class DeadLetterAdmin(ReadOnlyView, model=DeadLetter):
    """Jobs given up after JOB_MAX_ATTEMPTS deliveries (JOB-07), already failed and refunded.
    Read-only: the safe way to try one again is the image's "Retry" action (Images view), which
    goes through the job queue with a fresh attempt count."""

    name = "Dead-lettered job"
    name_plural = "Dead-lettered jobs"
    icon = "fa-solid fa-skull-crossbones"
    column_list = (
        DeadLetter.id,
        DeadLetter.created_at,
        DeadLetter.task_name,
        DeadLetter.image_id,
        DeadLetter.view,
        DeadLetter.attempts,
        DeadLetter.error_code,
    )
    column_default_sort = (DeadLetter.id, True)


MAX_DAYS = 365


class DashboardView(BaseView):
    name = "Dashboard"
    icon = "fa-solid fa-chart-line"

    @expose("/dashboard", methods=["GET"], identity="dashboard")
    async def dashboard(self, request: Request) -> Response:
        from app.admin.dashboard import render_context

        try:
            days = min(max(int(request.query_params.get("days", "30")), 1), MAX_DAYS)
        except ValueError:
            days = 30
        data = await DashboardService(resources_of(request).database.unit_of_work).build(days)
        return await self.templates.TemplateResponse(
            request, "hairtryon/dashboard.html", render_context(data)
        )


MODEL_VIEWS: tuple[type[ModelView], ...] = (
    UserAdmin,
    StyleAdmin,
    ImageAdmin,
    TransactionAdmin,
    WebhookEventAdmin,
    CreditLedgerAdmin,
    AuthSessionAdmin,
    AdminAuditAdmin,
    DeadLetterAdmin,
)
