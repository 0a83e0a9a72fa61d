"""The `create_interaction`, `update_interaction` and `rate` steps leave what they say on the
platform: read back through its REST API after a run on the real local platform."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from agent.api.auth import ClientCredentials
from agent.api.client import AuviousClient
from agent.scenario.loader import load_scenario
from agent.scenario.runner import RunOptions, ScenarioRun
from server.embedded import EmbeddedServer
from tests.platform_support import CLIENTS

RECORDS = """
name: records
vars: {queue: support}
participants:
  - name: agent
    view: none
    timeline:
      - do: register
      - do: join
      - do: create_interaction
        type: video-call
        data: {queue: "${vars.queue}", agent: "${group}-${index}"}
      - do: update_interaction
        data: {outcome: resolved}
      - do: rate
        rating: 4
        comment: Clear picture from ${group}
        feedback:
          - question: How was the video quality?
            type: RATING_1_10
            rating: 9
      - do: leave
      - do: unregister
"""


async def test_interaction_and_rating_steps_are_stored_on_the_platform(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(RECORDS, encoding="utf-8")
    scenario = load_scenario(path)
    secret = CLIENTS["agent1"][1]
    options = RunOptions(
        server_url=server.base_url,
        client_id="agent1",
        client_secret=SecretStr(secret),
        quiet=True,
    )
    run = ScenarioRun(scenario, options)
    result = await run.execute()
    (agent,) = result.participants
    assert not agent.errors and all(step.ok for step in agent.steps), agent.errors
    interaction_id = run.agents[0].interaction_id
    assert interaction_id is not None

    client = AuviousClient(server.base_url, ClientCredentials("agent1", secret))
    try:
        interaction = await client.interactions.get(interaction_id)
        ratings = await client.ratings.find_by_interaction(interaction_id)
    finally:
        await client.close()
    assert interaction.type == "video-call"
    assert interaction.data is not None
    assert interaction.data.get("outcome") == "resolved"
    (rating,) = ratings
    assert rating.score == 4 and rating.comment == "Clear picture from agent"
    assert rating.feedback is not None and rating.feedback[0].rating == 9
