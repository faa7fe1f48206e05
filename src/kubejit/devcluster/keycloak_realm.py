"""The ``kubejit`` realm that the test rig's Keycloak imports at start-up.

A pure builder of Keycloak's realm representation (JSON): the dev users with passwords and verified e-mail
addresses, in groups named like their dev groups; one public client ``kubejit`` for ``kubejit login``
(authorization code flow with PKCE S256 required, the OAuth 2.0 device authorization grant, loopback
redirect URIs on any port, no password grant); and the claims kube-apiserver and the broker read:
``preferred_username``, ``groups`` (group names, not paths) and ``aud`` = ``kubejit`` in the ID token.

Keycloak creates its built-in client scopes only when a realm document declares none; this one declares the
``groups`` scope, so it declares the few built-ins it relies on as well (``basic`` for ``sub``, ``profile``
for ``preferred_username``, ``email``, ``offline_access``; the ``offline_access`` role Keycloak adds by itself).

Called by :mod:`kubejit.devcluster.keycloak`; tests read :func:`dev_password` to type into the login page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubejit.devcluster.users import DEV_USERS, DevUser

REALM = "kubejit"
CLIENT_ID = "kubejit"
GROUPS_SCOPE = "groups"
# Keycloak retries a loopback redirect URI without its port (RFC 8252 section 7.3) when it does not match as
# given, and a registered URI ending in ``*`` matches by prefix: these two accept http://127.0.0.1:<any port>/<any
# path> and the same on localhost, nothing else (not [::1], not https, not another host).
LOOPBACK_REDIRECT_URIS = ("http://127.0.0.1/*", "http://localhost/*")
_WORKING_DAY_SECONDS = 10 * 3600


@dataclass(frozen=True)
class TokenLifetimes:
    """How long what Keycloak issues stays valid, in seconds.

    ``access_token`` also sets the ID token's ``exp`` (Keycloak gives both the same lifespan): a test that
    needs an ID token to expire while the session lives on makes it short (e.g. 20 s). Refresh tokens last as
    long as the session: ``session_idle`` without use, ``session_max`` at most (a working day by default),
    for ordinary and offline (``offline_access``) sessions alike.
    """

    access_token: int = 300
    session_idle: int = _WORKING_DAY_SECONDS
    session_max: int = _WORKING_DAY_SECONDS
    device_code: int = 600
    device_poll_interval: int = 1


DEFAULT_LIFETIMES = TokenLifetimes()


def dev_password(user: DevUser | str) -> str:
    """The password of a dev user in the test rig's Keycloak (a throwaway realm on loopback only)."""
    name = user if isinstance(user, str) else user.name
    return f"{name}-dev-password"


def email_of(user: DevUser) -> str:
    return f"{user.name}@kubejit.test"


def realm_document(lifetimes: TokenLifetimes = DEFAULT_LIFETIMES) -> dict[str, Any]:
    """The realm representation to import (Keycloak's ``RealmRepresentation``, as JSON)."""
    groups = sorted({group for user in DEV_USERS for group in user.groups})
    default_scopes = ["basic", "profile", "email", GROUPS_SCOPE]
    return {
        "realm": REALM,
        "enabled": True,
        "sslRequired": "external",
        "registrationAllowed": False,
        "resetPasswordAllowed": False,
        "rememberMe": False,
        "loginWithEmailAllowed": True,
        "duplicateEmailsAllowed": False,
        "bruteForceProtected": False,
        "revokeRefreshToken": True,
        "refreshTokenMaxReuse": 0,
        "accessTokenLifespan": lifetimes.access_token,
        "ssoSessionIdleTimeout": lifetimes.session_idle,
        "ssoSessionMaxLifespan": lifetimes.session_max,
        "offlineSessionIdleTimeout": lifetimes.session_idle,
        "offlineSessionMaxLifespanEnabled": True,
        "offlineSessionMaxLifespan": lifetimes.session_max,
        "oauth2DeviceCodeLifespan": lifetimes.device_code,
        "oauth2DevicePollingInterval": lifetimes.device_poll_interval,
        "groups": [{"name": group, "path": f"/{group}"} for group in groups],
        "users": [_user(user) for user in DEV_USERS],
        "clientScopes": _client_scopes(),
        "defaultDefaultClientScopes": default_scopes,
        "defaultOptionalClientScopes": ["offline_access"],
        "clients": [_client(default_scopes)],
    }


def _user(user: DevUser) -> dict[str, Any]:
    return {
        "username": user.name,
        "enabled": True,
        "email": email_of(user),
        "emailVerified": True,
        "firstName": user.name.capitalize(),
        "lastName": "Dev",
        "requiredActions": [],
        "credentials": [{"type": "password", "value": dev_password(user), "temporary": False}],
        "groups": [f"/{group}" for group in user.groups],
        "realmRoles": [f"default-roles-{REALM}", "offline_access"],
    }


def _client(default_scopes: list[str]) -> dict[str, Any]:
    return {
        "clientId": CLIENT_ID,
        "name": "kubejit login",
        "enabled": True,
        "publicClient": True,
        "protocol": "openid-connect",
        "standardFlowEnabled": True,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": False,
        "consentRequired": False,
        "fullScopeAllowed": True,
        "redirectUris": list(LOOPBACK_REDIRECT_URIS),
        "webOrigins": [],
        "attributes": {
            "pkce.code.challenge.method": "S256",
            "oauth2.device.authorization.grant.enabled": "true",
            "use.refresh.tokens": "true",
            "post.logout.redirect.uris": "+",
        },
        "defaultClientScopes": default_scopes,
        "optionalClientScopes": ["offline_access"],
    }


def _client_scopes() -> list[dict[str, Any]]:
    return [
        _scope("basic", [_mapper("sub", "oidc-sub-mapper", {"access.token.claim": "true"})], in_token_scope=False),
        _scope(
            "profile",
            [
                _attribute_mapper("username", "username", "preferred_username"),
                _attribute_mapper("given name", "firstName", "given_name"),
                _attribute_mapper("family name", "lastName", "family_name"),
                _mapper("full name", "oidc-full-name-mapper", _token_claims()),
            ],
        ),
        _scope(
            "email",
            [
                _attribute_mapper("email", "email", "email"),
                _attribute_mapper(
                    "email verified", "emailVerified", "email_verified", kind="property", json_type="boolean"
                ),
            ],
        ),
        _scope(
            GROUPS_SCOPE,
            [
                _mapper(
                    "groups",
                    "oidc-group-membership-mapper",
                    {"claim.name": "groups", "full.path": "false", **_token_claims()},
                )
            ],
        ),
        # Keycloak adds the scope itself only after the clients are imported, too late for the client to list it.
        _scope("offline_access", [], in_token_scope=True),
    ]


def _scope(name: str, mappers: list[dict[str, Any]], *, in_token_scope: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "protocol": "openid-connect",
        "attributes": {
            "include.in.token.scope": str(in_token_scope).lower(),
            "display.on.consent.screen": "false",
        },
        "protocolMappers": mappers,
    }


def _token_claims() -> dict[str, str]:
    return {
        "id.token.claim": "true",
        "access.token.claim": "true",
        "userinfo.token.claim": "true",
        "introspection.token.claim": "true",
    }


def _attribute_mapper(
    name: str, attribute: str, claim: str, *, kind: str = "attribute", json_type: str = "String"
) -> dict[str, Any]:
    """A mapper from a user attribute (or, with kind="property", a property such as emailVerified) to a claim."""
    config = {"user.attribute": attribute, "claim.name": claim, "jsonType.label": json_type, **_token_claims()}
    return _mapper(name, f"oidc-usermodel-{kind}-mapper", config)


def _mapper(name: str, kind: str, config: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "protocol": "openid-connect", "protocolMapper": kind, "config": config}
