"""The portal's own settings (the network's are plumbing/settings.py), from the environment."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from plumbing.settings import DEFAULT_PORTS


class PortalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    # How long a signed-in session lasts (from sign-in); a visitor's (sign-in form) one hour.
    session_hours: float = Field(default=12.0, gt=0, alias="TALENTLOOP_PORTAL_SESSION_HOURS")
    signin_per_account: int = Field(default=5, ge=1, alias="TALENTLOOP_PORTAL_SIGNIN_PER_ACCOUNT")
    signin_per_address: int = Field(default=50, ge=1, alias="TALENTLOOP_PORTAL_SIGNIN_PER_ADDRESS")
    signin_window_s: float = Field(default=900.0, gt=0, alias="TALENTLOOP_PORTAL_SIGNIN_WINDOW_S")
    # argon2id's cost (passwords.py); the defaults are argon2-cffi's (RFC 9106: 3 passes, 64 MiB).
    argon2_time_cost: int = Field(default=3, ge=1, alias="TALENTLOOP_PORTAL_ARGON2_TIME_COST")
    argon2_memory_kib: int = Field(default=65536, ge=8192, alias="TALENTLOOP_PORTAL_ARGON2_MEMORY_KIB")
    # The services the portal calls (JSON {name: url}); `talentloop up` sets it for every process.
    service_urls: str | None = Field(default=None, alias="TALENTLOOP_SERVICE_URLS")
    # The address people reach the portal at, for invitation links (default: the request's own).
    public_url: str | None = Field(default=None, alias="TALENTLOOP_PORTAL_URL")
    # A local network's demo organisations and users: written there once (talentloop up sets it).
    demo_users_file: Path | None = Field(default=None, alias="TALENTLOOP_PORTAL_DEMO_USERS")
    # One OpenID Connect provider people may sign in with (services/portal/oidc.py): off without
    # an issuer. Its client must allow the redirect URI <portal>/sign-in/oidc/callback.
    oidc_issuer: str | None = Field(default=None, alias="TALENTLOOP_PORTAL_OIDC_ISSUER")
    oidc_client_id: str | None = Field(default=None, alias="TALENTLOOP_PORTAL_OIDC_CLIENT_ID")
    # None: a public client (PKCE alone), else client_secret_basic or _post, as the provider offers.
    oidc_client_secret: SecretStr | None = Field(default=None, alias="TALENTLOOP_PORTAL_OIDC_CLIENT_SECRET")
    oidc_scopes: str = Field(default="openid email profile", alias="TALENTLOOP_PORTAL_OIDC_SCOPES")
    # The button's words: "Sign in with <name>" (default: the issuer's host name).
    oidc_name: str | None = Field(default=None, max_length=80, alias="TALENTLOOP_PORTAL_OIDC_NAME")
    # False: the provider is the only way in (no password form, no password on invitations).
    oidc_passwords: bool = Field(default=True, alias="TALENTLOOP_PORTAL_OIDC_PASSWORDS")

    def urls(self) -> dict[str, str]:
        if self.service_urls:
            return dict(json.loads(self.service_urls))
        return {name: f"http://127.0.0.1:{port}" for name, port in DEFAULT_PORTS.items()}
