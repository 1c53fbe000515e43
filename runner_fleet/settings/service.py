"""The service's own settings, read from the environment (Function App settings in Azure)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    runner_pools: str | None = Field(default=None, validation_alias="RUNNER_POOLS")
    runner_pools_file: Path | None = Field(default=None, validation_alias="RUNNER_POOLS_FILE")

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

    log_format: str = Field(default="json", validation_alias=AliasChoices("RUNNER_FLEET_LOG_FORMAT"))

    @property
    def github_uses_app(self) -> bool:
        return self.github_app_id is not None and self.github_app_private_key is not None
