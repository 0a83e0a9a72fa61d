"""`/composition/api` (seed 003): request, re-execute, cancel, delete, query, player URLs.

Roles as the seed gives them: SERVICE may only create; only SUPERVISOR deletes; customers have
none of the roles, so they get 403. Another organization's conversation or composition answers
404, like one that does not exist. The player downloads are public: their `Date`, `Expires`
and `Signature` are the credential (403 when wrong or expired).
"""

from __future__ import annotations

from aiohttp import web

from agent.api.models.composition import (
    CompositionIdentifier,
    CompositionMessage,
    CompositionPageQuery,
    CompositionResourceMessage,
    CreateCompositionWebCommand,
    Pageable,
    PageCompositionView,
    PlayerUrlQuery,
    ReExecuteCompositionWebCommand,
    SignedPlayerQuery,
    Sort,
)
from server import storage
from server.auth.caller import CALLER_KEY, Caller
from server.auth.middleware import AUTH_PREFIXES_KEY, BARE_TOKEN_PREFIXES_KEY, public
from server.composition.recordings import RECORDINGS_KEY, NoRecordings, RecordingSource
from server.composition.service import (
    Compositions,
    Settings,
    file_name,
    media_type,
    recording_metadata,
    view_of,
)
from server.errors import Forbidden, Handler, NotFound
from server.http import check_path_copies, check_resource_id, json_response
from server.openapi import operation, parameter_schema
from server.paging import spring_page
from server.platform import PLATFORM_KEY
from server.signing import DEFAULT_TTL_SECONDS, SignatureError
from server.storage import storage_of
from server.storage.downloads import Content, content_response

BASE = "/composition/api"
COMPOSITIONS_KEY = web.AppKey("auvious_compositions", Compositions)
_TAG = "composition"
CREATORS = ("AGENT", "SUPERVISOR", "SERVICE")
USERS = ("AGENT", "SUPERVISOR")


def compositions_of(request: web.Request) -> Compositions:
    return request.app[COMPOSITIONS_KEY]


def _caller(request: web.Request, roles: tuple[str, ...], action: str) -> Caller:
    caller = request[CALLER_KEY]
    caller.require_role(*roles, action=action)
    return caller


def _ids(request: web.Request) -> tuple[str, str]:
    return request.match_info["conversationId"], request.match_info["compositionId"]


@operation(
    "Create a new Composition (queued by priority; higher runs first)",
    response=CompositionIdentifier,
    errors=(400, 403, 404, 409),
    tag=_TAG,
)
async def request_composition(
    request: web.Request, body: CreateCompositionWebCommand
) -> web.Response:
    caller = _caller(request, CREATORS, "creating a composition")
    command = body
    check_resource_id("conversationId", command.conversation_id)
    return json_response(compositions_of(request).request(caller, command))


@operation(
    "Re-execute a previously completed (or failed, or cancelled) composition, same id",
    response=CompositionIdentifier,
    errors=(400, 403, 404, 409),
    tag=_TAG,
)
async def reexecute(request: web.Request, body: ReExecuteCompositionWebCommand) -> web.Response:
    caller = _caller(request, USERS, "re-executing a composition")
    return json_response(await compositions_of(request).reexecute(caller, body))


@operation("Cancel a queued or running composition", errors=(403, 404, 409), tag=_TAG)
async def cancel(request: web.Request) -> web.Response:
    caller = _caller(request, USERS, "cancelling a composition")
    await compositions_of(request).cancel(caller, *_ids(request))
    return web.Response(status=200)


@operation(
    "Delete a composition and its file (SUPERVISOR)", status=204, errors=(403, 404), tag=_TAG
)
async def delete(request: web.Request) -> web.Response:
    caller = _caller(request, ("SUPERVISOR",), "deleting a composition")
    await compositions_of(request).delete(caller, *_ids(request))
    return web.Response(status=204)


@operation(
    "Get recording data and associated compositions by conversationId (newest first)",
    response=CompositionMessage,
    errors=(403, 404),
    tag=_TAG,
)
async def by_conversation(request: web.Request) -> web.Response:
    caller = _caller(request, USERS, "reading compositions")
    conversation_id = request.match_info["conversationId"]
    service = compositions_of(request)
    recordings = service.visible_recordings(caller, conversation_id)
    return json_response(
        CompositionMessage(
            compositions=service.of_conversation(caller, conversation_id),
            recording_metadata=recording_metadata(recordings),
        )
    )


@operation(
    "Get all compositions initiated by the currently authenticated user (newest first)",
    response=PageCompositionView,
    errors=(400, 403),
    tag=_TAG,
)
async def mine(request: web.Request, query: CompositionPageQuery) -> web.Response:
    caller = _caller(request, USERS, "reading compositions")
    number, size = query.number, query.page_length
    content, total = compositions_of(request).of_user(caller, number, size)
    return json_response(
        spring_page(
            PageCompositionView,
            Pageable,
            Sort,
            content=content,
            number=number,
            size=size,
            total=total,
            is_sorted=False,
        )
    )


def _player_url(disposition: str) -> Handler:
    @operation(
        f"A signed URL ({disposition}) of a completed composition's file, valid 15 minutes",
        required_headers=("Referer",),
        response=CompositionResourceMessage,
        errors=(400, 403, 404),
        tag=_TAG,
    )
    async def player_url(request: web.Request, query: PlayerUrlQuery) -> web.Response:
        caller = _caller(request, USERS, "reading a composition's URL")
        conversation_id, composition_id = _ids(request)
        check_path_copies(
            (
                ("conversationId", query.conversation_id, conversation_id),
                ("id", query.id, composition_id),
            )
        )
        service = compositions_of(request)
        record = service.find(caller, conversation_id, composition_id)
        if service.completed_file(record) is None:
            raise NotFound(f"composition {composition_id} has no media yet")
        view = view_of(record)
        path = f"{BASE}/player/{disposition}/{conversation_id}/{composition_id}/{file_name(view)}"
        signed, valid_until = storage_of(request).signer.sign_path(path, DEFAULT_TTL_SECONDS)
        query_string = "&".join(f"{k}={v}" for k, v in signed.items())
        return json_response(
            CompositionResourceMessage(
                url=f"{request.url.origin()}{path}?{query_string}", valid_until=valid_until
            )
        )

    return player_url


def _player(disposition: str) -> Handler:
    @operation(
        f"Download ({disposition}) a composition's file; the signature is the credential; "
        "Range gives 206",
        headers=("Range",),
        response=bytes,
        errors=(400, 403, 404),
        tag=_TAG,
    )
    @public
    async def player(request: web.Request, query: SignedPlayerQuery) -> web.StreamResponse:
        try:
            storage_of(request).signer.verify_path(
                request.path, query.date, query.expires, query.signature
            )
        except SignatureError as exc:
            raise Forbidden(str(exc)) from None
        conversation_id, composition_id = _ids(request)
        service = compositions_of(request)
        record = service.get(composition_id)
        gone = NotFound(f"composition {composition_id} has no media (deleted or not ready)")
        if record is None:
            raise gone
        view = view_of(record)
        if view.conversation_id != conversation_id or request.match_info["fileName"] != file_name(
            view
        ):
            raise gone
        path = service.completed_file(record)
        if path is None:
            raise gone
        return content_response(
            Content(
                path,
                media_type(view)[1],
                filename=file_name(view),
                attachment=disposition == "attachment",
            )
        )

    return player


parameter_schema("header", "Referer", {"type": "string", "minLength": 1})


def setup(app: web.Application) -> None:
    storage.install(app)
    app[AUTH_PREFIXES_KEY].append(f"{BASE}/")
    app[BARE_TOKEN_PREFIXES_KEY].append(f"{BASE}/")
    platform = app[PLATFORM_KEY]
    store = app[storage.STORAGE_KEY]

    def source() -> RecordingSource:
        return app.get(RECORDINGS_KEY) or NoRecordings()

    config = platform.config
    service = Compositions(
        store.records,
        store.files,
        source,
        Settings(
            workers=config.composition_workers,
            fps=config.composition_fps,
            timeout=config.composition_timeout,
            preprocess_wait=config.composition_preprocess_wait,
        ),
    )
    app[COMPOSITIONS_KEY] = service

    async def start(app: web.Application) -> None:
        await service.start()

    async def stop(app: web.Application) -> None:
        await service.close()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    router = app.router
    # The signed downloads first: `player/attachment/{c}/{id}/{file}` has the shape of
    # `player/{c}/{id}/url/attachment`.
    for disposition in ("attachment", "inline"):
        router.add_get(
            f"{BASE}/player/{disposition}/{{conversationId}}/{{compositionId}}/{{fileName}}",
            _player(disposition),
        )
    for disposition in ("attachment", "inline"):
        router.add_get(
            f"{BASE}/player/{{conversationId}}/{{compositionId}}/url/{disposition}",
            _player_url(disposition),
        )
    router.add_post(f"{BASE}/request", request_composition)
    router.add_post(f"{BASE}/reexecute", reexecute)
    router.add_post(f"{BASE}/{{conversationId}}/{{compositionId}}/cancel", cancel)
    router.add_delete(f"{BASE}/{{conversationId}}/{{compositionId}}/delete", delete)
    router.add_get(f"{BASE}/query/composition", mine)
    router.add_get(f"{BASE}/query/conversation/{{conversationId}}", by_conversation)
