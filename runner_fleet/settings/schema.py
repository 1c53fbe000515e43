"""The JSON Schema of a pools file, generated from the pool model (`runner-fleet pools --schema`).

It is committed as runner_fleet/defaults/pools.schema.json, which the example pools name for the YAML
language server; a unit test and `scripts/validate schema` fail when the committed file is stale.
Rules a validator checks are in the schema too where JSON Schema can say them (patterns, which scope a
forge needs, the Default runner group); what it cannot (unique pool names, warm within max_runners, a
subnet in the VMs' subscription, cron fields and time zones) is checked at start-up.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from runner_fleet.settings.pool import Pool

SCHEMA_FILE = "pools.schema.json"
SCHEMA_ID = "urn:runner-fleet:pools"
REGENERATE = f"runner-fleet pools --schema > runner_fleet/defaults/{SCHEMA_FILE}"


class _FieldsUntitled(GenerateJsonSchema):
    """Titles for the models only: a field's title would just repeat its name."""

    def field_title_should_be_set(self, schema: object) -> bool:
        return False


def pools_schema() -> dict[str, Any]:
    pool = Pool.model_json_schema(schema_generator=_FieldsUntitled)
    definitions = {"Pool": pool, **pool.pop("$defs")}
    return {
        "$schema": _FieldsUntitled.schema_dialect,
        "$id": SCHEMA_ID,
        "title": "runner-fleet pools",
        "description": (
            "The pools runner-fleet serves (RUNNER_POOLS_FILE, YAML or JSON; RUNNER_POOLS takes the same "
            f"as JSON). Generated from the settings model: {REGENERATE}"
        ),
        "type": "object",
        "properties": {
            "pools": {
                "description": "The pools, at least one, with unique names; checked at start-up, where an "
                "error names the pool and the field. For a job that several pools match, the one with the "
                "fewest labels the job did not ask for wins, then this order.",
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/$defs/Pool"},
            }
        },
        "required": ["pools"],
        "$defs": dict(sorted(definitions.items())),
    }


def pools_schema_text() -> str:
    """The schema as the committed file holds it."""
    return json.dumps(pools_schema(), indent=2) + "\n"


def shipped_schema_text() -> str:
    """The schema file shipped in the package (runner_fleet/defaults/)."""
    return resources.files("runner_fleet.defaults").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
