"""Settings every service reads from the environment (embedded-stack defaults)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORTS = {
    "intake": 8001, "routing": 8002, "employer_gateway": 8003, "outcomes": 8004, "console": 8005, "support": 8006,
    "portal": 8007,
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092", alias="KAFKA_BOOTSTRAP_SERVERS")
    # How this process authenticates to Kafka (plumbing/kafka.py KafkaSecurity): `talentloop up`
    # gives each service its own SCRAM principal on the local broker; on a managed cluster set
    # the protocol (SASL_SSL, SSL) and the TLS files it needs. No protocol: SASL_PLAINTEXT when
    # a username is set, else PLAINTEXT.
    kafka_security_protocol: str | None = Field(default=None, alias="KAFKA_SECURITY_PROTOCOL")
    kafka_sasl_mechanism: str = Field(default="SCRAM-SHA-512", alias="KAFKA_SASL_MECHANISM")
    kafka_sasl_username: str | None = Field(default=None, alias="KAFKA_SASL_USERNAME")
    kafka_sasl_password: str | None = Field(default=None, alias="KAFKA_SASL_PASSWORD", repr=False)
    kafka_ssl_cafile: str | None = Field(default=None, alias="KAFKA_SSL_CAFILE")
    kafka_ssl_certfile: str | None = Field(default=None, alias="KAFKA_SSL_CERTFILE")
    kafka_ssl_keyfile: str | None = Field(default=None, alias="KAFKA_SSL_KEYFILE")
    kafka_ssl_key_password: str | None = Field(default=None, alias="KAFKA_SSL_KEY_PASSWORD", repr=False)
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:54329/talentloop", alias="DATABASE_URL"
    )
    # API keys (plumbing/apikeys.py): a rotated key stays valid this long; each process caches
    # keys this long, which bounds how late a revocation made elsewhere takes effect.
    key_rotation_grace_s: float = Field(default=86400.0, ge=0, alias="TALENTLOOP_KEY_ROTATION_GRACE_S")
    key_cache_s: float = Field(default=5.0, ge=0, alias="TALENTLOOP_KEY_CACHE_S")
    http_host: str = Field(default="127.0.0.1", alias="TALENTLOOP_HTTP_HOST")
    http_port: int | None = Field(default=None, alias="TALENTLOOP_HTTP_PORT")
    # Secret for intake's pseudonymous candidate ids (HMAC); `talentloop up` generates one.
    pseudonym_key: str | None = Field(default=None, alias="TALENTLOOP_PSEUDONYM_KEY")
    # Wraps every candidate's personal-data key (plumbing/vault.py); `talentloop up` generates one.
    master_key: str | None = Field(default=None, alias="TALENTLOOP_MASTER_KEY")
    # Master keys that still unwrap, never wrap (comma-separated): during a master key rotation
    # (talentloop keys rotate-master, docs/deploy.md), the key being replaced.
    master_key_previous: str | None = Field(default=None, alias="TALENTLOOP_MASTER_KEY_PREVIOUS", repr=False)
    # Partner adapter mappings (one YAML file each), for intake.
    adapters_dir: Path = Field(default=Path(__file__).parent.parent / "deploy" / "adapters", alias="TALENTLOOP_ADAPTERS")
    log_level: str = Field(default="INFO", alias="TALENTLOOP_LOG_LEVEL")
    # A handler gets this many tries (with backoff) before its message is dead-lettered.
    max_attempts: int = Field(default=3, ge=1, alias="TALENTLOOP_MAX_ATTEMPTS")
    retry_backoff_s: float = Field(default=0.2, ge=0, alias="TALENTLOOP_RETRY_BACKOFF_S")
    # Routing decides a referral at most this many times (first decision, then re-routes).
    max_routing_attempts: int = Field(default=3, ge=1, alias="TALENTLOOP_MAX_ROUTING_ATTEMPTS")
    # How often routing looks for openings whose fair-share hold has ended.
    reroute_sweep_s: float = Field(default=60.0, gt=0, alias="TALENTLOOP_REROUTE_SWEEP_S")
    # The gateway publishes referral.stale for a referral not acknowledged within this many
    # business days (Monday to Friday in the business time zone, holidays excluded).
    stale_business_days: int = Field(default=2, ge=1, alias="TALENTLOOP_STALE_BUSINESS_DAYS")
    business_timezone: str = Field(default="UTC", alias="TALENTLOOP_BUSINESS_TIMEZONE")
    holidays: str = Field(default="", alias="TALENTLOOP_HOLIDAYS", description="Comma-separated ISO dates.")
    stale_sweep_s: float = Field(default=60.0, gt=0, alias="TALENTLOOP_STALE_SWEEP_S")
    # The support service flags a service request accepted and not delivered within this many
    # business days (one not answered gets the referrals' limit above): a ride or a childcare
    # place is arranged within two weeks, not two days.
    service_delivery_business_days: int = Field(default=10, ge=1, alias="TALENTLOOP_SERVICE_DELIVERY_BUSINESS_DAYS")
    # A local network's simulated clock (plumbing/clock.py): the time written in this file,
    # frozen between writes; no file: the system clock. `talentloop demo` sets it.
    clock_file: Path | None = Field(default=None, alias="TALENTLOOP_CLOCK_FILE")
    # Outcomes' good-job test: an hourly wage at or above this (the local living or self-
    # sufficiency wage the coalition adopts) plus basic benefits; see docs/reports.md.
    good_job_hourly_wage: str = Field(default="25.00", alias="TALENTLOOP_GOOD_JOB_WAGE")
    good_job_wage_source: str = Field(
        default="coalition default; set TALENTLOOP_GOOD_JOB_WAGE to your area's living wage",
        alias="TALENTLOOP_GOOD_JOB_WAGE_SOURCE",
    )
    # Outbound webhooks (plumbing/webhooks.py): per-request timeout, retry backoff (doubling
    # from the base, capped), attempts before a delivery is failed, and how long the previous
    # signing secret keeps signing after a rotation.
    webhook_timeout_s: float = Field(default=5.0, gt=0, alias="TALENTLOOP_WEBHOOK_TIMEOUT_S")
    webhook_backoff_s: float = Field(default=10.0, gt=0, alias="TALENTLOOP_WEBHOOK_BACKOFF_S")
    webhook_backoff_cap_s: float = Field(default=3600.0, gt=0, alias="TALENTLOOP_WEBHOOK_BACKOFF_CAP_S")
    webhook_max_attempts: int = Field(default=12, ge=1, alias="TALENTLOOP_WEBHOOK_MAX_ATTEMPTS")
    webhook_rotation_grace_s: float = Field(default=86400.0, ge=0, alias="TALENTLOOP_WEBHOOK_ROTATION_GRACE_S")
    # Development only: let webhook endpoints be plain http on this machine (a local receiver).
    # Off, every endpoint must be https on a public address (plumbing/destinations.py).
    webhooks_allow_loopback_http: bool = Field(default=False, alias="TALENTLOOP_WEBHOOKS_ALLOW_LOOPBACK_HTTP")
    webhook_poll_s: float = Field(default=0.25, gt=0, alias="TALENTLOOP_WEBHOOK_POLL_S")
    # E-mail (plumbing/mail.py): intake's notices to candidates and the portal's e-mailed links.
    # No host or no from-address: nothing is sent, and the logs say so at start. Security:
    # starttls (port 587), tls (implicit, port 465) or none (a relay on this host only).
    smtp_host: str | None = Field(default=None, alias="TALENTLOOP_SMTP_HOST")
    smtp_port: int = Field(default=587, ge=1, le=65535, alias="TALENTLOOP_SMTP_PORT")
    smtp_security: Literal["starttls", "tls", "none"] = Field(default="starttls", alias="TALENTLOOP_SMTP_SECURITY")
    smtp_user: str | None = Field(default=None, alias="TALENTLOOP_SMTP_USER")
    smtp_password: str | None = Field(default=None, alias="TALENTLOOP_SMTP_PASSWORD", repr=False)
    smtp_timeout_s: float = Field(default=20.0, gt=0, alias="TALENTLOOP_SMTP_TIMEOUT_S")
    mail_from: str | None = Field(default=None, alias="TALENTLOOP_MAIL_FROM")
    mail_max_attempts: int = Field(default=5, ge=1, alias="TALENTLOOP_MAIL_MAX_ATTEMPTS")
    mail_backoff_s: float = Field(default=30.0, gt=0, alias="TALENTLOOP_MAIL_BACKOFF_S")
    outbox_poll_s: float = Field(default=0.5, gt=0, alias="TALENTLOOP_OUTBOX_POLL_S")
    outbox_batch: int = Field(default=500, ge=1, alias="TALENTLOOP_OUTBOX_BATCH")
    outbox_idle_poll_s: float = Field(default=0.5, gt=0, alias="TALENTLOOP_OUTBOX_IDLE_POLL_S")
    # A consumer's fetch: the broker answers once it has this many bytes or after this wait
    # (plumbing/consume_loop.py; docs/performance.md "One consumer per service" measured them).
    consumer_fetch_max_wait_ms: int = Field(default=500, ge=0, le=30_000, alias="TALENTLOOP_CONSUMER_FETCH_MAX_WAIT_MS")
    consumer_fetch_min_bytes: int = Field(default=1, ge=1, alias="TALENTLOOP_CONSUMER_FETCH_MIN_BYTES")
    # How long rows that only make delivery safe are kept once they have served
    # (plumbing/retention.py); pending rows are never pruned.
    outbox_retention_days: float = Field(default=7.0, gt=0, alias="TALENTLOOP_OUTBOX_RETENTION_DAYS")
    inbox_retention_days: float = Field(default=30.0, gt=0, alias="TALENTLOOP_INBOX_RETENTION_DAYS")
    idempotency_retention_hours: float = Field(default=24.0, gt=0, alias="TALENTLOOP_IDEMPOTENCY_RETENTION_HOURS")
    webhook_retention_days: float = Field(default=30.0, gt=0, alias="TALENTLOOP_WEBHOOK_RETENTION_DAYS")
    prune_every_s: float = Field(default=3600.0, gt=0, alias="TALENTLOOP_PRUNE_EVERY_S")
    # Every database connection's statement and lock timeouts (plumbing/db.py): a stuck
    # statement or a lock wait ends with an error the consumer treats as a fault (retried),
    # so no partition is held forever. Reports over years of ledger take longest.
    # Proxies whose X-Forwarded-Proto/-For this process believes (uvicorn's rule: comma-separated
    # addresses or networks, "*" for any): behind a TLS-terminating proxy the request is then
    # https, so session cookies are Secure. Only the loopback proxy by default.
    forwarded_allow_ips: str = Field(default="127.0.0.1", alias="TALENTLOOP_FORWARDED_ALLOW_IPS")
    statement_timeout_s: float = Field(default=120.0, gt=0, alias="TALENTLOOP_STATEMENT_TIMEOUT_S")
    lock_timeout_s: float = Field(default=10.0, gt=0, alias="TALENTLOOP_LOCK_TIMEOUT_S")
    # HTTP request bodies (plumbing/body_limits.py): 413 beyond these. Upload routes (intake's
    # CSV import) get the CSV limit, every other route the JSON one; one referral is far
    # below 1 MiB, and a CSV row may be no larger than a JSON body.
    max_json_body_bytes: int = Field(default=1 << 20, ge=1024, alias="TALENTLOOP_MAX_JSON_BODY_BYTES")
    max_csv_body_bytes: int = Field(default=100 << 20, ge=1024, alias="TALENTLOOP_MAX_CSV_BODY_BYTES")
    # Whether intake maps and validates a CSV over 1 MiB in a worker process (services/intake/csv_import.py)
    # rather than in a thread of the service. Off by default: on the 2-core machine it made the import
    # 4-10 % faster on its own for 25 % more CPU a row in all, a loss wherever no core is idle (the whole
    # pipeline); on where a core is free while intake writes (docs/performance.md, fifteenth session).
    csv_worker: bool = Field(default=False, alias="TALENTLOOP_CSV_WORKER")

    def port_for(self, service: str) -> int:
        return self.http_port or DEFAULT_PORTS[service]
