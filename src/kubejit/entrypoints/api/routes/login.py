"""``GET /api/v1/login/options``: what ``kubejit login`` needs to sign someone in, before they have any token.

Public on purpose (no authentication; ``Cache-Control: no-store`` so a changed configuration is seen at once):
it lists the configured issuers that have ``login`` settings, each with its client id, scopes, the prefixes the
broker puts before its names, and the CA the broker trusts for it (so the CLI can trust a private IdP the same
way). Nothing in it is a secret: a ``clientSecret`` is only ever the non-confidential kind some IdPs give
installed apps (the config says so). The answer comes from the broker's config (``broker.config.oidc``).
"""

from __future__ import annotations

import base64

from fastapi import APIRouter, Response

from kubejit.config import OidcIssuerConfig
from kubejit.domain.errors import Unavailable
from kubejit.entrypoints.api.dependencies import BrokerDep
from kubejit.entrypoints.api.schemas import LoginIssuerOut, LoginOptionsOut

router = APIRouter(prefix="/api/v1")


@router.get("/login/options", response_model=LoginOptionsOut)
def login_options(broker: BrokerDep, response: Response) -> LoginOptionsOut:
    response.headers["Cache-Control"] = "no-store"
    return LoginOptionsOut(issuers=[_offered(issuer) for issuer in broker.config.oidc if issuer.login is not None])


def _offered(issuer: OidcIssuerConfig) -> LoginIssuerOut:
    login = issuer.login
    if login is None:  # filtered out by the caller
        raise Unavailable(f"issuer {issuer.name} has no login settings")
    return LoginIssuerOut(
        name=issuer.name,
        issuer=issuer.issuer,
        client_id=login.client_id,
        scopes=list(login.scopes),
        client_secret=login.client_secret,
        certificate_authority_data=_ca_data(issuer),
        username_prefix=issuer.username_prefix,
        groups_prefix=issuer.groups_prefix,
    )


def _ca_data(issuer: OidcIssuerConfig) -> str | None:
    if issuer.ca_file is None:
        return None
    try:
        return base64.b64encode(issuer.ca_file.read_bytes()).decode()
    except OSError as error:
        raise Unavailable(
            f"the broker cannot read the CA file {issuer.ca_file} of issuer {issuer.name}: {error.strerror or error}"
        ) from error
