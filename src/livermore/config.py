"""Settings: the only home of the service's defaults.

Read from the environment (prefix `LIVERMORE_`), overridden by CLI flags, and mapped onto plain
constructor arguments at the edges (`livermore.service`, `livermore.cli`): no layer below those
imports this module, so every class states what it needs and tests pass exactly that.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """One plain settings object, built at the edge and never passed below it."""

    model_config = SettingsConfigDict(env_prefix="LIVERMORE_", extra="ignore")

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="a standalone server, or a Redis Cluster: redis+cluster://host:port (any node; TLS: rediss+)",
    )
    min_candle_threshold: int = Field(60, ge=1, description="fewer cached candles than this -> fetch")
    default_candle_target: int = Field(100, ge=1, description="how many candles a warmup or backfill fills")
    max_candles: int = Field(1000, ge=1, description="each candle key is trimmed to this many")
    scan_chunk: int = Field(1000, ge=1, description="keys answered per scanner script call")
    max_in_flight: int = Field(32, ge=1, description="upper bound on concurrent REST requests")
    safety_margin: float = Field(0.10, ge=0.0, lt=1.0, description="share of the budget left unused")
    http_timeout_s: float = Field(10.0, gt=0)
    max_retries: int = Field(5, ge=0, description="retries of a failed request (5xx, timeout, garbage)")
    backoff_base_s: float = Field(0.25, ge=0, description="first retry delay; doubles, jittered 50-150%")
    request_deadline_s: float = Field(
        300.0, gt=0, description="one REST request gives up after this long (HTTP 429 pauses included)"
    )
    coinbase_rate_per_s: float = Field(10.0, gt=0)
    egress: str | None = Field(
        None,
        description="names the IP this process sends from: processes with one label share one rate budget in Redis "
        "(default: the source address, else 'default')",
    )
    source_address: str | None = Field(None, description="the local IP exchange requests leave from, e.g. 127.0.0.2")
    lock_ttl_s: float = Field(30.0, gt=0, description="a killed warmup's lease frees itself after this")
    reclaim_idle_s: float = Field(
        60.0, gt=0, description="an entry a worker claimed and left unacknowledged this long is taken over"
    )
    drain_locally: bool = Field(
        True, description="False: serve/warmup scan and schedule, `livermore worker` processes fetch"
    )
    redis_outage_limit_s: float = Field(
        20.0, gt=0, description="a warmup whose Redis is away waits this long for it, then ends interrupted"
    )
    materialise_synthetic: bool = Field(
        False, description="also write synthetic members for intervals the exchange confirmed empty"
    )
    touch_up_passes: int = Field(2, ge=0, description="scans after the drain for pairs that aged meanwhile")
    stats_interval_s: float = Field(0.25, ge=0, description="stats are written at most this often")
    symbol_catalog_ttl_s: float = Field(3600.0, gt=0, description="the exchange's symbol list is fetched this rarely")
    admin_token: str | None = None
    admin_host: str = "127.0.0.1"
    admin_port: int = Field(8080, ge=0, le=65535)
    admin_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        ["127.0.0.1", "::1", "localhost"],
        description="Host header names the admin app answers to, comma separated; admin_host is always one; * any",
    )
    admin_max_body_bytes: int = Field(1_048_576, ge=0, description="larger request bodies are refused (413) unread")
    admin_max_streams: int = Field(100, ge=1, description="concurrent live event streams; one more gets 503")
    command_sub: str = "default"
    instance_ttl_s: int = Field(45, ge=1, description="the instance status key expires this long after a heartbeat")
    heartbeat_s: float = Field(15.0, gt=0, description="the instance status key is refreshed this often")
    country_code: str | None = Field(None, description="shown as countryCode in the instance status")
    admin_email: str | None = Field(None, description="shown as adminEmail in the instance status")
    admin_display_name: str | None = Field(None, description="shown as adminDisplayName in the instance status")

    @property
    def egress_label(self) -> str:
        """The egress's label in the budget's key names: `egress`, else the source address, else 'default'."""
        return self.egress or self.source_address or "default"

    @field_validator("admin_allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """`LIVERMORE_ADMIN_ALLOWED_HOSTS=admin.example.com,10.0.0.5`, as an operator writes it."""
        return [h.strip() for h in value.split(",") if h.strip()] if isinstance(value, str) else value
