"""HTTP transport: one place for bearer tokens, timeouts, retries and error reporting.

Every call of the contract is described by a ``Call`` (operation name, method, path template)
so that errors and logs name it the way the seed documents do.

Retry policy, and why:
- No request left the machine (connection refused, connect timeout), or the connection
  dropped before a response arrived: retried for every call. Calls that create things send
  ids or ``X-Auvious-TransactionId`` values that stay the same across attempts, which is how
  the platform recognises a retry.
- A timeout or a 502/503/504 after the request went out: retried only for idempotent calls
  (GET, PUT, DELETE, and calls marked idempotent such as keepalive), since the server may
  have acted on the first attempt.
- 401: the token provider renews the token once and the call is made once more.
"""

from __future__ import annotations

import asyncio
import base64
import json as jsonlib
import logging
import random
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, cast
from urllib.parse import quote, urljoin, urlsplit

import aiohttp
from multidict import CIMultiDictProxy
from pydantic import BaseModel, TypeAdapter, ValidationError

from agent.api.errors import ApiError, server_message
from agent.api.models.auth import TokenResponse

if TYPE_CHECKING:
    from agent.api.auth import TokenProvider

__all__ = [
    "Call",
    "FilePart",
    "HttpTransport",
    "QueryValue",
    "Response",
    "first_problem",
]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 15.0
_RETRYABLE_STATUS = frozenset({502, 503, 504})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

QueryScalar: TypeAlias = str | int | float | bool
QueryValue: TypeAlias = QueryScalar | Sequence[QueryScalar] | None
ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    """One endpoint of the contract, named as the seed documents name it."""

    operation: str
    method: str
    path: str
    idempotent: bool | None = None
    authenticated: bool = True

    @property
    def retry_safe(self) -> bool:
        """Whether repeating the call after an uncertain outcome cannot change the result."""
        if self.idempotent is not None:
            return self.idempotent
        return self.method in _IDEMPOTENT_METHODS

    def render(self, params: Mapping[str, str | int] | None) -> str:
        """The path with its ``{placeholders}`` filled, each value quoted as one segment."""
        quoted = {k: quote(str(v), safe="") for k, v in (params or {}).items()}
        try:
            return self.path.format_map(quoted)
        except KeyError as exc:
            raise ValueError(f"{self.operation}: path parameter {exc} is missing") from None


@dataclass(frozen=True, slots=True)
class FilePart:
    """A file in a multipart body (snapshot images, file transfers, assets)."""

    content: bytes = field(repr=False)
    filename: str
    content_type: str = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Response:
    """A successful response, read whole."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes = field(repr=False)
    content_type: str


class HttpTransport:
    """Sends ``Call``s to the platform root (``http://host:port``); REST lives under
    ``/rtc-api`` and tokens under ``/security``, as in production.

    The transport owns its aiohttp session unless one is given. It is also the token
    endpoint the token providers talk to (``request_token``).
    """

    def __init__(
        self,
        base_url: str,
        auth: TokenProvider | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_attempts: int = 3,
        backoff: float = 0.25,
        max_backoff: float = 4.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base URL must be http(s)://host[:port], got {base_url!r}")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._auth: TokenProvider | None = None
        if auth is not None:
            self.use_auth(auth)

    def __repr__(self) -> str:
        return f"HttpTransport({self.base_url!r})"

    @property
    def auth(self) -> TokenProvider | None:
        return self._auth

    def use_auth(self, auth: TokenProvider) -> None:
        """Authenticate every call with ``auth``, which fetches its tokens through us."""
        auth.bind(self)
        self._auth = auth

    async def close(self) -> None:
        """Close the session for good: a call after this fails rather than open a session
        that nobody would close (a task still running after its participant closed)."""
        self._closed = True
        try:
            if self._auth is not None:
                await self._auth.aclose()
        finally:
            session, self._session = self._session, None
            if session is not None and self._owns_session:
                await session.close()

    def _get_session(self, call: Call) -> aiohttp.ClientSession:
        # Created lazily: aiohttp wants a running event loop. Never after close(): a call
        # (or retry) still under way then would open a session that nobody closes.
        if self._closed:
            raise ApiError(
                operation=call.operation,
                method=call.method,
                path=call.path,
                status=None,
                message="the client is closed",
            )
        if self._session is None or self._session.closed:
            if not self._owns_session:
                raise RuntimeError("the aiohttp session given to HttpTransport is closed")
            self._session = aiohttp.ClientSession(raise_for_status=False)
        return self._session

    def url_for(self, path_or_url: str) -> str:
        """An absolute URL for a path under the platform root, or a signed URL as given."""
        return urljoin(self.base_url + "/", path_or_url)

    async def request(
        self,
        call: Call,
        *,
        path_params: Mapping[str, str | int] | None = None,
        query: Mapping[str, QueryValue] | None = None,
        json: Any = None,
        form: Mapping[str, str | FilePart | None] | None = None,
        urlencoded: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        time_limit: float | None = None,
        url: str | None = None,
    ) -> Response:
        """Make ``call`` and return its successful response, or raise ``ApiError``.

        ``url`` replaces the call's path (signed URLs); such calls must not be
        ``authenticated``, so a token never travels to a URL the server handed out.
        """
        if url is not None and call.authenticated:
            raise ValueError("calls to a given URL must not carry the bearer token")
        target = self.url_for(url) if url is not None else self.base_url + call.render(path_params)
        limit = self.timeout if time_limit is None else time_limit
        params = _query_pairs(query)
        attempt = 0
        renewed = False
        while True:
            attempt += 1
            token = await self._auth.access_token() if call.authenticated and self._auth else None
            send_headers = dict(headers or {})
            if token is not None:
                send_headers["Authorization"] = f"Bearer {token}"
            started = time.monotonic()
            answered = False
            try:
                session = self._get_session(call)
                async with session.request(
                    call.method,
                    target,
                    params=params,
                    json=json,
                    data=_body(form, urlencoded),
                    headers=send_headers,
                    timeout=aiohttp.ClientTimeout(total=limit),
                    allow_redirects=False,
                ) as resp:
                    answered = True
                    body = await resp.read()
                    status = resp.status
                    content_type = resp.content_type
                    resp_headers = resp.headers
                    reason = resp.reason
            except (TimeoutError, aiohttp.ClientError) as exc:
                retry, why = _classify(exc, answered, call, limit)
                if retry and attempt < self.max_attempts:
                    await self._pause(call, attempt, why)
                    continue
                raise ApiError(
                    operation=call.operation,
                    method=call.method,
                    path=call.path,
                    status=None,
                    message=why,
                    attempts=attempt,
                ) from None
            elapsed_ms = (time.monotonic() - started) * 1000
            log.debug("%s %s -> %d (%.0f ms)", call.method, call.path, status, elapsed_ms)
            if status == 401 and token is not None and not renewed and self._auth is not None:
                renewed = True
                if await self._auth.renew_after_rejection(token):
                    log.info("%s: token rejected, renewed it, calling again", call.operation)
                    attempt -= 1
                    continue
            if status in _RETRYABLE_STATUS and call.retry_safe and attempt < self.max_attempts:
                await self._pause(call, attempt, f"HTTP {status}", resp_headers.get("Retry-After"))
                continue
            if status >= 300:
                message = (
                    f"redirected to {resp_headers.get('Location')} (is the base URL right?)"
                    if status < 400
                    else server_message(body, content_type, reason)
                )
                raise ApiError(
                    operation=call.operation,
                    method=call.method,
                    path=call.path,
                    status=status,
                    message=message,
                    body=body.decode("utf-8", errors="replace"),
                    attempts=attempt,
                )
            return Response(status, resp_headers, body, content_type)

    async def _pause(
        self, call: Call, attempt: int, why: str, retry_after: str | None = None
    ) -> None:
        delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        delay *= random.uniform(0.5, 1.0)  # spread the retries of many agents apart
        if retry_after is not None and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), self.max_backoff))
        log.warning(
            "%s (%s %s): %s, attempt %d of %d, retrying in %.2f s",
            call.operation,
            call.method,
            call.path,
            why,
            attempt,
            self.max_attempts,
            delay,
        )
        await asyncio.sleep(delay)

    async def request_json(self, call: Call, **kwargs: Any) -> Any:
        """Make ``call`` and return its JSON body."""
        response = await self.request(call, **kwargs)
        return self.decode_json(call, response)

    async def request_as(self, call: Call, shape: type[T], **kwargs: Any) -> T:
        """Make ``call`` and read its JSON body as ``shape`` (a model, ``list[Model]``, ``str``)."""
        data = await self.request_json(call, **kwargs)
        return self.validate(call, shape, data)

    async def request_model(self, call: Call, model: type[ModelT], **kwargs: Any) -> ModelT:
        """Make ``call`` and read its body as ``model``."""
        return await self.request_as(call, model, **kwargs)

    def decode_json(self, call: Call, response: Response) -> Any:
        try:
            return jsonlib.loads(response.body)
        except ValueError as exc:
            raise self.contract_error(
                call, response.status, f"response is not JSON ({exc})"
            ) from None

    def validate(self, call: Call, shape: type[T], data: Any) -> T:
        """``data`` as ``shape``, or an ``ApiError`` saying where the response is off-contract."""
        try:
            adapter: TypeAdapter[T] = _adapter(cast(Hashable, shape))
            return adapter.validate_python(data)
        except ValidationError as exc:
            name = getattr(shape, "__name__", str(shape))
            raise self.contract_error(
                call, 200, f"response does not match {name}: {first_problem(exc)}"
            ) from None

    @staticmethod
    def contract_error(call: Call, status: int, message: str) -> ApiError:
        """An ``ApiError`` for a response that arrived but is not what the contract says."""
        return ApiError(
            operation=call.operation,
            method=call.method,
            path=call.path,
            status=status,
            message=message,
        )

    async def request_token(
        self, form: Mapping[str, str], client: tuple[str, str] | None
    ) -> TokenResponse:
        """``POST /security/oauth/token``, form-encoded, for the token providers.

        ``client`` is the OAuth client's id and secret, sent as HTTP Basic.
        """
        headers = {"Accept": "application/json"}
        if client is not None:
            headers["Authorization"] = basic_authorization(*client)
        response = await self.request_model(
            TOKEN_CALL, TokenResponse, urlencoded=form, headers=headers
        )
        if response.error or not response.access_token:
            why = response.error_description or response.error or "no access_token in the answer"
            raise self.contract_error(TOKEN_CALL, 200, why)
        return response


def basic_authorization(login: str, password: str) -> str:
    """An HTTP Basic ``Authorization`` value (aiohttp's own helper moved between versions)."""
    if ":" in login:
        raise ValueError("an HTTP Basic login cannot contain ':'")
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode("ascii")


TOKEN_CALL = Call("requestToken", "POST", "/security/oauth/token", authenticated=False)


def first_problem(exc: ValidationError) -> str:
    """Where a response is off-contract and how, without echoing its (maybe secret) values."""
    first = exc.errors(include_input=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


@lru_cache(maxsize=256)
def _adapter(shape: Hashable) -> TypeAdapter[Any]:
    """Building a TypeAdapter is costly; the shapes of the contract are few."""
    return TypeAdapter(cast(Any, shape))


def _classify(exc: BaseException, answered: bool, call: Call, limit: float) -> tuple[bool, str]:
    """Whether a failed attempt may be repeated, and what to say about it."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return True, f"could not connect within {limit:g} s"
    if isinstance(exc, TimeoutError):
        return call.retry_safe, f"no answer within {limit:g} s"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return True, f"could not connect: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.ClientConnectionError) and not answered:
        return True, f"connection dropped before a response ({type(exc).__name__})"
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
        return call.retry_safe, f"connection dropped while reading the response ({exc})"
    return False, f"request failed: {type(exc).__name__}: {exc}"


def _query_pairs(query: Mapping[str, QueryValue] | None) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in (query or {}).items():
        if value is None:
            continue
        values: Sequence[QueryScalar] = (
            value if isinstance(value, list | tuple) else [value]  # type: ignore[list-item]
        )
        for item in values:
            pairs.append((key, _query_text(item)))
    return pairs


def _query_text(value: QueryScalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _body(
    form: Mapping[str, str | FilePart | None] | None, urlencoded: Mapping[str, str] | None
) -> aiohttp.FormData | dict[str, str] | None:
    """A fresh body for every attempt: aiohttp consumes a FormData when it sends it."""
    if urlencoded is not None:
        return dict(urlencoded)
    if form is None:
        return None
    data = aiohttp.FormData(quote_fields=False, default_to_multipart=True)
    for name, value in form.items():
        if value is None:
            continue
        if isinstance(value, FilePart):
            data.add_field(
                name, value.content, filename=value.filename, content_type=value.content_type
            )
        else:
            data.add_field(name, value)
    return data
