"""Bearer-token authentication and per-token authorisation (verbs x resources).

Owns: turning ``Authorization: Bearer <token>`` into a user and deciding whether that user
may do a verb on a resource, answering 401/403 with the real messages. Never does: HTTP.

Token rules: ``"*"`` allows everything; ``{"verbs": [...], "resources": [...], "user": name}``
allows the listed verbs on the listed resources (``"*"``, ``plural``, ``plural.group`` or
``plural/subresource``). The user name defaults to the token without a ``-token`` suffix.
A list of such rules allows what any of them allows (like the rules of RBAC roles); a rule
may also carry ``"namespaces": [...]`` (only requests in those namespaces, as a Role) and
``"names": [...]`` (only those objects, as ``resourceNames``).
"""

from __future__ import annotations

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

    def authorize(self, token: str | None, verb: str, route: Route | None) -> None:
        """403 when the token may not do ``verb`` on the route's resource (discovery is always allowed)."""
        if token is None or route is None:
            return
        rule = self.tokens[token]
        if rule == "*":
            return
        rules = [rule] if isinstance(rule, Mapping) else [r for r in rule if isinstance(r, Mapping)] \
            if isinstance(rule, (list, tuple)) else []
        if any(_allows(each, verb, route) for each in rules):
            return
        rule = next((each for each in rules if each.get("user")), {})
        resource = route.resource
        user = str(rule.get("user") or token.removesuffix("-token"))
        target = resource.plural + (f"/{route.subresource}" if route.subresource else "")
        scope = (f'in the namespace "{route.namespace}"' if route.namespace else "at the cluster scope")
        subject = resource.group_resource + (f' "{route.name}"' if route.name else "")
        raise forbidden(f'{subject} is forbidden: User "{user}" cannot {verb} resource "{target}" in API group '
                        f'"{resource.group}" {scope}', resource.plural, resource.group, route.name or "")


def _allows(rule: Mapping, verb: str, route: Route) -> bool:
    """Whether one rule grants ``verb`` on the route (resource, and namespace/name when it limits them)."""
    resource = route.resource
    names = {"*", resource.plural, f"{resource.plural}.{resource.group}" if resource.group else resource.plural}
    if route.subresource:
        names = {"*", f"{resource.plural}/{route.subresource}"}
    verbs = set(rule.get("verbs") or ())
    if not (("*" in verbs or verb in verbs) and names & set(rule.get("resources") or ())):
        return False
    if rule.get("namespaces") is not None and route.namespace not in rule["namespaces"]:
        return False
    return rule.get("names") is None or route.name in rule["names"]


__all__ = ["ApiError", "Authorizer"]
