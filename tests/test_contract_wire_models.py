"""The wire models against the seeds' Schemas sections, read from the seed files themselves:
every schema is a model of the same name, every property is a field under its wire name, a
property the seed requires is required by the model, and every enumerated value is accepted.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from agent.api import models
from agent.api.models.base import WireModel
from tests.contract_support import NOT_BODIES, SCHEMA_MODELS, SeedSchema, seed_schemas

SCHEMAS = seed_schemas()


def _wire_fields(model: type[WireModel]) -> dict[str, Any]:
    return {(field.alias or name): field for name, field in model.model_fields.items()}


def test_the_schema_list_is_read_whole() -> None:
    """Guards the parser: a format change in the seeds must not shrink what is checked."""
    assert len(SCHEMAS) >= 68
    rating = SCHEMAS["CreateRatingWebCommand"].properties  # seed 000 over 002
    assert "feedback" in rating and rating["rating"] is False
    assert SCHEMAS["SnapshotCameraRequestWebCommand"].enums["cameraRequestType"] == {
        "CAMERA_SWITCH",
        "FLASH_ON",
        "FLASH_OFF",
    }
    assert sum(len(s.properties) for s in SCHEMAS.values()) >= 240
    composition = SCHEMAS["CreateCompositionWebCommand"]  # seed 003's pipe tables
    assert composition.properties["conversationId"] is True
    assert composition.enums["type"] == {"AUDIO", "VIDEO"}
    assert set(SCHEMAS["PageCompositionView"].properties) >= {"content", "pageable", "sort"}


@pytest.mark.parametrize(
    "schema", [s for s in SCHEMAS.values() if s.name not in NOT_BODIES], ids=lambda s: s.name
)
def test_every_seed_schema_matches_its_wire_model(schema: SeedSchema) -> None:
    name = SCHEMA_MODELS.get(schema.name, schema.name)
    model = getattr(models, name, None)
    assert isinstance(model, type) and issubclass(model, WireModel), schema.name
    assert name in models.__all__
    fields = _wire_fields(model)
    missing = sorted(set(schema.properties) - set(fields))
    assert missing == [], f"{schema.name} lacks {missing}"
    for name, required in schema.properties.items():
        if required:
            assert fields[name].is_required(), f"{schema.name}.{name} is required by the seed"
    for name, values in schema.enums.items():
        adapter: TypeAdapter[Any] = TypeAdapter(fields[name].annotation)
        for value in sorted(values):
            adapter.validate_python(value)  # raises if the model refuses a seed value
