"""A whole flow with every logger at DEBUG and no redaction filter installed: no client secret,
token, ticket, TURN password, URL signature or signing key reaches a log line.

The redaction filter (`agent.redact`) is a second layer the CLI installs; this test runs
without it, so what it proves is that the code itself never logs a secret.
"""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest

from agent.api.auth import ClientCredentials, RefreshTokenLogin, StaticToken, TicketLogin
from agent.api.client import AuviousClient
from agent.api.errors import ApiError
from agent.api.http import FilePart
from agent.api.models.assets import AssetUploadForm
from agent.api.models.auth import TicketProperties, TicketRequest, TicketType
from agent.api.models.conferences import CreateConferenceWebCommand, JoinConferenceWebCommand
from agent.api.models.registrations import RegisterUserEndpointWebCommand
from agent.events.channel import Backoff, EventChannel
from server.embedded import TOKEN_KEY_FILE, EmbeddedServer
from server.signing import KEY_FILE
from tests.platform_support import CLIENTS, get_token

TURN_SECRET = "turn-shared-secret-never-logged"
WRONG_SECRET = "wrong-secret-never-logged"
LOGGERS = ("", "aiohttp", "amqtt", "aiomqtt", "transitions", "agent", "server", "asyncio")


async def test_no_secret_reaches_the_logs_of_a_whole_flow(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    secrets = {TURN_SECRET, WRONG_SECRET, *(secret for _, secret in CLIENTS.values())}
    async with (
        EmbeddedServer(
            [spec for spec, _ in CLIENTS.values()],
            data_dir=tmp_path,
            ice_servers=("stun:127.0.0.1:3478", "turn:127.0.0.1:3478"),
            turn_secret=TURN_SECRET,
            access_log=True,
        ) as srv,
        aiohttp.ClientSession(srv.base_url) as http,
    ):
        auth = ClientCredentials("agent1", CLIENTS["agent1"][1])
        async with AuviousClient(srv.base_url, auth) as api:
            sub = (await api.claims()).sub
            assert sub is not None
            endpoint = await api.registrations.register(
                RegisterUserEndpointWebCommand(keep_alive_seconds=60)
            )
            v2, v1 = await api.ice.servers_v2(), await api.ice.servers()
            turn = (v1.ice_servers or [])[-1]
            assert v2.turn_password and turn.credential
            secrets |= {v2.turn_password, turn.credential}

            conference = (await api.conferences.create(CreateConferenceWebCommand())).id
            assert conference is not None
            await api.conferences.join(
                JoinConferenceWebCommand(conference_id=conference, user_endpoint_id=endpoint)
            )
            channel = EventChannel(
                srv.ws_url, auth, sub, endpoint, backoff=Backoff(initial=0.05, maximum=0.5)
            )
            await channel.start()
            await channel.wait_connected(within=10)
            secrets.add(await auth.access_token())

            ticket = await api.security.create_ticket(
                TicketRequest(
                    type=TicketType.MULTI_USE_TICKET,
                    properties=TicketProperties(conference_id=conference),
                )
            )
            secrets.add(ticket.id)
            customer_auth = TicketLogin(ticket.id)
            async with AuviousClient(srv.base_url, customer_auth) as customer:
                customer_endpoint = await customer.registrations.register(
                    RegisterUserEndpointWebCommand(keep_alive_seconds=60)
                )
                await customer.conferences.join(
                    JoinConferenceWebCommand(
                        conference_id=conference, user_endpoint_id=customer_endpoint
                    )
                )
                secrets.add(await customer_auth.access_token())

            await api.assets.upload(
                "logo",
                AssetUploadForm(
                    application_id="app", category="logo", roles_allowed_access="agent"
                ),
                FilePart(b"\x89PNG-not-really", "logo.png", "image/png"),
            )
            signed = await api.assets.signed_url("logo", referer="https://app.example/")
            assert signed.url and "signature=" in signed.url
            secrets.add(signed.url.split("signature=", 1)[1])
            assert await api.download(signed.url) == b"\x89PNG-not-really"

            # Refusals log too: a wrong secret, a forged token, a spent refresh token.
            with pytest.raises(ApiError) as wrong:
                async with AuviousClient(
                    srv.base_url, ClientCredentials("agent1", WRONG_SECRET)
                ) as bad:
                    await bad.claims()
            assert wrong.value.status == 401 and WRONG_SECRET not in str(wrong.value)
            forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.Zm9yZ2VkLXNpZ25hdHVyZQ"
            secrets.add(forged)
            async with AuviousClient(srv.base_url, StaticToken(forged)) as bad:
                with pytest.raises(ApiError) as refused:
                    await bad.conferences.active()
            assert refused.value.status == 401
            plain = await get_token(http, "agent2", CLIENTS["agent2"][1])
            secrets |= {plain["access_token"], plain["refresh_token"]}
            refreshing = RefreshTokenLogin(
                plain["refresh_token"], client_id="agent2", client_secret=CLIENTS["agent2"][1]
            )
            async with AuviousClient(srv.base_url, refreshing) as refreshed:
                assert (await refreshed.claims()).sub == plain["sub"]
                secrets.add(await refreshing.access_token())
            await channel.close()
        secrets |= {srv.config.token_secret, (tmp_path / KEY_FILE).read_bytes().hex()}
        assert srv.config.token_secret == (tmp_path / TOKEN_KEY_FILE).read_bytes().hex()

    logged = caplog.text + "\n".join(
        str(record.__dict__) for record in caplog.records
    )  # formatted lines, and every attribute (args, exc_info) of every record
    assert len(caplog.records) > 50, "DEBUG logging was not captured"
    assert "GET /rtc-api/assets/signed/" in logged, "the access log was not captured"
    leaked = sorted(secret[:12] + "..." for secret in secrets if secret and secret in logged)
    assert leaked == []
