"""Bearer-token authentication and per-token authorisation (verbs x resources).

Owns: turning ``Authorization: Bearer <token>`` into a user and deciding whether that user
may do a verb on a resource, answering 401/403 with the real messages. Never does: HTTP.

Token rules: ``"*"`` allows everything; ``{"verbs": [...], "resources": [...], "user": name}``
allows the listed verbs on the listed resources (``"*"``, ``plural``, ``plural.group`` or
``plural/subresource``). Messages name the rule's ``user``, else ``token-user-<n>`` (n: the
token's place in the table): never the token itself, which is a secret.
A list of such rules allows what any of them allows (like the rules of RBAC roles); a rule
may also carry ``"namespaces": [...]`` (only requests in those namespaces, as a Role) and
``"names": [...]`` (only those objects, as ``resourceNames``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from failsync.sandbox.routing import Route
from failsync.sandbox.status import ApiError, forbidden, unauthorized


class Authorizer:
    """Checks requests against a token table; with no table every request is allowed."""

    def __init__(self, tokens: Mapping[str, object] | None) -> None:
        self.tokens = dict(tokens or {})

    @property
    def enabled(self) -> bool:
        return bool(self.tokens)

    def authenticate(self, header: str | None) -> str | None:
        """The token of a request; 401 when auth is on and the token is missing or unknown."""
        if not self.enabled:
            return None
        scheme, _, token = (header or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or token not in self.tokens:
            raise unauthorized()
        return token

    def rules(self, token: str) -> list[Mapping] | None:
        """The token's rules; None when it may do everything."""
        rule = self.tokens[token]
        if rule == "*":
            return None
        if isinstance(rule, Mapping):
            return [rule]
        return [r for r in rule if isinstance(r, Mapping)] if isinstance(rule, (list, tuple)) else []

    def user(self, token: str) -> str:
        """The user name of a token: its rule's ``user``, else ``token-user-<n>``."""
        for rule in self.rules(token) or []:
            if rule.get("user"):
                return str(rule["user"])
        return f"token-user-{list(self.tokens).index(token) + 1}"

    def allowed(self, token: str | None, verb: str, request: "Attributes") -> bool:
        """Whether the token may do ``verb`` with these request attributes (no auth: always)."""
        if token is None:
            return True
        rules = self.rules(token)
        return rules is None or any(_allows(rule, verb, request) for rule in rules)

    def authorize(self, token: str | None, verb: str, route: Route | None) -> None:
        """403 when the token may not do ``verb`` on the route's resource (discovery is always allowed)."""
        if token is None or route is None:
            return
        resource = route.resource
        request = Attributes(resource.group, resource.plural, route.subresource, route.namespace, route.name)
        if self.allowed(token, verb, request):
            return
        target = resource.plural + (f"/{route.subresource}" if route.subresource else "")
        scope = (f'in the namespace "{route.namespace}"' if route.namespace else "at the cluster scope")
        subject = resource.group_resource + (f' "{route.name}"' if route.name else "")
        raise forbidden(f'{subject} is forbidden: User "{self.user(token)}" cannot {verb} resource "{target}" in API '
                        f'group "{resource.group}" {scope}', resource.plural, resource.group, route.name or "")


@dataclass(frozen=True)
class Attributes:
    """What a request (or a SelfSubjectAccessReview) asks about."""

    group: str
    plural: str
    subresource: str | None = None
    namespace: str | None = None
    name: str | None = None


def _allows(rule: Mapping, verb: str, request: Attributes) -> bool:
    """Whether one rule grants ``verb`` on the request (resource, and namespace/name when it limits them)."""
    names = {"*", request.plural, f"{request.plural}.{request.group}" if request.group else request.plural}
    if request.subresource:
        names = {"*", f"{request.plural}/{request.subresource}"}
    verbs = set(rule.get("verbs") or ())
    if not (("*" in verbs or verb in verbs) and names & set(rule.get("resources") or ())):
        return False
    if rule.get("namespaces") is not None and request.namespace not in rule["namespaces"]:
        return False
    return rule.get("names") is None or request.name in rule["names"]


__all__ = ["ApiError", "Attributes", "Authorizer"]
