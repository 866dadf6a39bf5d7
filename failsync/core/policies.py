"""Policy files: YAML text -> validated Policy values plus errors naming file, line and key.

Owns: a file's YAML text -> its documents (the fast reader for plain block YAML, else
PyYAML nodes), YAML syntax errors, and the rule that two policies must not render the
same object. Each document is validated by ``failsync.core.policy_schema``. Works on
text handed in by the caller; never reads the disk (``failsync.loading`` does) and
never renders.

Every problem becomes a PolicyError located at ``file:line`` with a dotted key path
(``spec.fallbacks[1].service``) and a message saying what was expected. A document
with any error is skipped; the other documents and files still load.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from failsync.core.model import Policy
from failsync.core.policy_schema import ROUTE_API_VERSIONS, TRAFFICSPLIT_API_VERSIONS, PolicyDocument
from failsync.core.simple_yaml import full_loader, simple_documents
from failsync.errors import Location, PolicyError

if TYPE_CHECKING:
    import yaml

__all__ = ["PolicySet", "parse_policies", "merge_policy_sets", "object_identity",
           "TRAFFICSPLIT_API_VERSIONS", "ROUTE_API_VERSIONS"]


@dataclass(frozen=True)
class PolicySet:
    """The valid policies of one or more files, and every error found in them."""

    policies: tuple[Policy, ...] = ()
    errors: tuple[PolicyError, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no error was found."""
        return not self.errors

    @property
    def files_with_errors(self) -> tuple[str, ...]:
        """Distinct files that have at least one error, in order of first error."""
        return tuple(dict.fromkeys(e.location.file for e in self.errors if e.location))


#: The lines the fast reader records: metadata.name's places a policy (else its document's line).
_PLACING_LINES = frozenset({"", "metadata"})


def parse_policies(text: str, file: str) -> PolicySet:
    """Parse and validate every FailoverPolicy document of one file's YAML text."""
    # Lines only to place valid policies: a document with an error is read again from nodes below.
    documents = simple_documents(text, _PLACING_LINES)
    if documents is not None:
        valid = _valid_policies(documents, file)
        if valid is not None:
            return _without_duplicates(valid, [])
    return _parse_with_nodes(text, file)


def _valid_policies(documents: list[tuple[dict[str, Any], dict[str, int]]], file: str) -> list[Policy] | None:
    """The policies of documents read by the fast reader; None if any has an error.

    Errors are always reported from PyYAML's nodes (``_parse_with_nodes``), so their
    wording and lines never depend on which reader ran first.
    """
    policies: list[Policy] = []
    for data, lines in documents:
        document = PolicyDocument(file, lines=lines)
        policy = document.validate(data)
        if policy is None or document.errors:
            return None
        policies.append(policy)
    return policies


#: Bounds on what one YAML document may expand to: a policy is a few dozen values, so these
#: only stop alias bombs ("billion laughs") and pathological nesting, never a real policy.
MAX_DOCUMENT_VALUES = 10_000
MAX_DOCUMENT_DEPTH = 32


def _children(node: yaml.Node) -> list[yaml.Node]:
    import yaml  # loaded: the node came from it

    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def expansion_problem(root: yaml.Node) -> tuple[str, yaml.Node] | None:
    """Why a composed document is too big to convert (and the node where), or None.

    Counts the values the document expands to with aliases followed (each distinct node
    once, so the count itself is linear in the text), finds recursive aliases and
    measures nesting; iterative, so no input can exhaust the stack.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool, int]] = [(root, False, 1)]
    while stack:
        node, finished, depth = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > MAX_DOCUMENT_VALUES:
                return (f"the document expands to more than {MAX_DOCUMENT_VALUES} values (YAML aliases "
                        f"repeating other values?); expected a policy of a few dozen values", node)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            return "a YAML alias refers to a value that contains it (a recursive alias); expected plain values", node
        if depth > MAX_DOCUMENT_DEPTH:
            return (f"values are nested more than {MAX_DOCUMENT_DEPTH} levels deep; expected a policy "
                    f"(at most a few levels)", node)
        open_nodes.add(key)
        stack.append((node, True, depth))
        stack.extend((child, False, depth + 1) for child in _children(node))
    return None


def _parse_with_nodes(text: str, file: str) -> PolicySet:
    import yaml  # only for what the fast reader declines (~12 ms to import)

    policies: list[Policy] = []
    errors: list[PolicyError] = []
    try:
        for node in yaml.compose_all(text, Loader=full_loader()):
            if node is None:
                continue
            problem = expansion_problem(node)
            if problem is not None:
                message, where = problem
                errors.append(PolicyError(message, Location(file, where.start_mark.line + 1)))
                continue
            document = PolicyDocument(file, root=node)
            data = document.convert(node, "")
            if data is None:  # an empty document (only comments, or "---" twice)
                continue
            if _is_list(data) and not document.errors:
                list_policies, list_errors = _list_items(document, data)
                policies.extend(list_policies)
                errors.extend(list_errors)
                continue
            policy = document.validate(data) if not document.errors else None
            errors.extend(document.errors)
            if policy is not None:
                policies.append(policy)
    except yaml.MarkedYAMLError as error:
        errors.append(_syntax_error(error, file))
    except yaml.YAMLError as error:
        errors.append(PolicyError(f"YAML syntax error: {error}", Location(file)))
    return _without_duplicates(policies, errors)


#: Kinds of a list of objects, as ``kubectl get fop -o yaml`` prints several.
LIST_KINDS = frozenset({"List", "FailoverPolicyList"})


def _is_list(data: Any) -> bool:
    return isinstance(data, dict) and data.get("kind") in LIST_KINDS and isinstance(data.get("items"), list)


def _list_items(document: PolicyDocument, data: dict[str, Any]) -> tuple[list[Policy], list[PolicyError]]:
    """The policies of a ``List`` document (``items[i]`` each validated as a document of its own).

    Errors name the item's key path (``items[1].spec.service``) and its line.
    """
    policies: list[Policy] = []
    errors: list[PolicyError] = []
    lines = document.lines
    for index, item in enumerate(data["items"]):
        prefix = f"items[{index}]"
        item_lines = {key[len(prefix) + 1:] if key != prefix else "": line for key, line in lines.items()
                      if key == prefix or key.startswith(prefix + ".")}
        item_document = PolicyDocument(document.file, lines=item_lines)
        policy = item_document.validate(item)
        for error in item_document.errors:
            location = error.location
            key = f"{prefix}.{location.key}" if location and location.key else prefix
            errors.append(PolicyError(error.message, Location(document.file, location.line if location else None,
                                                              key)))
        if policy is not None:
            policies.append(policy)
    return policies, errors


def _syntax_error(error: yaml.MarkedYAMLError, file: str) -> PolicyError:
    """``YAML syntax error at line L, column C: problem (while ... at line, column)``."""
    mark = error.problem_mark or error.context_mark
    problem = error.problem or error.context or "invalid YAML"
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    message = f"YAML syntax error{where}: {problem}"
    if error.context and error.context_mark and error.problem:
        context_mark = error.context_mark
        message += (f" ({error.context} started at line {context_mark.line + 1}, "
                    f"column {context_mark.column + 1})")
    return PolicyError(message, Location(file, mark.line + 1 if mark else None))


def merge_policy_sets(sets: Iterable[PolicySet]) -> PolicySet:
    """Combine the sets of several files; a policy rendering the same object as an earlier one is an error."""
    policies: list[Policy] = []
    errors: list[PolicyError] = []
    for item in sets:
        policies.extend(item.policies)
        errors.extend(item.errors)
    return _without_duplicates(policies, errors)


def object_identity(policy: Policy) -> tuple[str, str]:
    """(namespace, name): a policy's key, which names its rendered object whatever the target kind.

    Two policies of one name in one namespace would fight over the same key (the
    ``failsync.io/policy`` annotation, the loop's queue) even when they target different kinds.
    """
    return (policy.namespace, policy.name)


def _without_duplicates(policies: list[Policy], errors: list[PolicyError]) -> PolicySet:
    if len(policies) < 2:  # a file of one policy, the usual layout: nothing to compare
        return PolicySet(tuple(policies), tuple(errors))
    seen: dict[tuple[str, str], Policy] = {}
    kept: list[Policy] = []
    for policy in policies:
        identity = object_identity(policy)
        first = seen.get(identity)
        if first is None:
            seen[identity] = policy
            kept.append(policy)
            continue
        where = _short_location(first.location)
        errors.append(PolicyError(
            f"policy {policy.key} renders the same object as the policy at {where}; "
            f"expected a unique namespace/name per policy, whatever its target kind",
            _relocate(policy.location, "metadata.name")))
    return PolicySet(tuple(kept), tuple(errors))


def _short_location(location: Location | None) -> str:
    if location is None:
        return "another source"
    return location.file if location.line is None else f"{location.file}:{location.line}"


def _relocate(location: Location | None, key: str) -> Location | None:
    return None if location is None else Location(location.file, location.line, key)
