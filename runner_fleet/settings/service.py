"""The service's own settings, read from the environment (Function App settings in Azure)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from runner_fleet.adapters.azure.clouds import UnknownArmEndpoint, cloud_for_endpoint


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    runner_pools: str | None = Field(default=None, validation_alias="RUNNER_POOLS")
    runner_pools_file: Path | None = Field(default=None, validation_alias="RUNNER_POOLS_FILE")
    # The admin's VM prices (runner_fleet/cost/prices.py says the format), as JSON or a YAML/JSON file.
    runner_prices: str | None = Field(default=None, validation_alias="RUNNER_PRICES")
    runner_prices_file: Path | None = Field(default=None, validation_alias="RUNNER_PRICES_FILE")

    github_webhook_secret: SecretStr | None = Field(default=None, validation_alias="GITHUB_WEBHOOK_SECRET")
    github_app_id: int | None = Field(default=None, validation_alias="GITHUB_APP_ID")
    github_app_private_key: SecretStr | None = Field(default=None, validation_alias="GITHUB_APP_PRIVATE_KEY")
    github_token: SecretStr | None = Field(default=None, validation_alias="GITHUB_TOKEN")
    # GitHub Enterprise Server: https://<host>/api/v3
    github_api_url: str = Field(default="https://api.github.com", validation_alias="GITHUB_API_URL")

    gitlab_url: str | None = Field(default=None, validation_alias="GITLAB_URL")
    gitlab_token: SecretStr | None = Field(default=None, validation_alias="GITLAB_TOKEN")
    gitlab_webhook_token: SecretStr | None = Field(default=None, validation_alias="GITLAB_WEBHOOK_TOKEN")
    gitlab_webhook_signing_token: SecretStr | None = Field(
        default=None, validation_alias="GITLAB_WEBHOOK_SIGNING_TOKEN"
    )

    # Sovereign clouds use another Resource Manager endpoint; the simulators use a loopback one.
    arm_endpoint: str = Field(default="https://management.azure.com", validation_alias="ARM_ENDPOINT")
    arm_ca_bundle: Path | None = Field(default=None, validation_alias="ARM_CA_BUNDLE")
    # Telemetry: a job waiting longer than this while its pool had room counts in the metric
    # `runner_fleet.jobs.waited_with_capacity` (export itself is set by APPLICATIONINSIGHTS_CONNECTION_STRING
    # or OTEL_EXPORTER_OTLP_ENDPOINT, read by runner_fleet.telemetry.setup).
    waited_with_capacity_s: float = Field(default=120.0, gt=0, validation_alias="WAITED_WITH_CAPACITY_S")

    @field_validator("arm_endpoint")
    @classmethod
    def _known_cloud(cls, value: str) -> str:
        # The endpoint picks the token scope and API versions; an unknown one would fail on every call.
        try:
            cloud_for_endpoint(value)
        except UnknownArmEndpoint as exc:
            raise ValueError(str(exc)) from None
        return value.strip().rstrip("/")

    @property
    def arm_ca_bundle_path(self) -> str | None:
        return str(self.arm_ca_bundle) if self.arm_ca_bundle else None

    @property
    def github_uses_app(self) -> bool:
        return self.github_app_id is not None and self.github_app_private_key is not None
