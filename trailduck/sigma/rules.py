"""Reading Sigma rule files and converting each rule, one at a time: a file or rule that cannot run is reported
with the reason and never stops the others.

Hostile files are refused before pySigma sees them: over :data:`MAX_RULE_BYTES`, not UTF-8, not YAML, nested
too deeply, or YAML whose anchors and aliases would expand past :data:`MAX_NODES` nodes (a "billion laughs"
bomb is a few hundred bytes that expand into billions of nodes); pySigma checks the same again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.rule import SigmaRule

from trailduck.errors import ConfigError
from trailduck.sigma.backend import DuckDBSigmaBackend

#: A Sigma rule is a few kilobytes; SigmaHQ's largest is under 30 KB.
MAX_RULE_BYTES = 1 << 20
#: The nodes a rule file's aliases may add once expanded (pySigma's own limit, which it checks after us).
MAX_NODES = 10_000
#: The longest condition a rule may convert to. SigmaHQ's CloudTrail rules convert to at most 1,220 characters; a
#: condition of 1,000 repeated terms (53,000 characters) takes DuckDB 4 s and 1.2 GB to plan, 3,000 over 6 GB.
MAX_CONDITION_CHARS = 32_000
SUFFIXES = (".yml", ".yaml")
#: The log source trailduck's lake holds.
PRODUCT, SERVICE = "aws", "cloudtrail"
#: The prefix of every rule's view.
VIEW_PREFIX = "sigma_"
_VIEW_CHARS = re.compile(r"[^a-z0-9]+")


@dataclass
class Rule:
    """One rule of a file, converted or with the reason it cannot run."""

    file: Path
    #: Which rule of its file (1 for the first).
    number: int
    id: str | None
    title: str
    level: str | None = None
    status: str | None = None
    tags: list[str] = field(default_factory=list)
    #: The DuckDB condition over ``events``; None when the rule cannot run.
    condition: str | None = None
    unsupported: str | None = None
    #: The view that holds its matches: ``sigma_<name>``.
    view: str = ""
    #: Seconds spent parsing and converting it.
    seconds: float = 0.0


def rule_files(paths: Iterable[str | Path]) -> list[Path]:
    """The rule files named: files as given, folders searched recursively for ``*.yml`` and ``*.yaml``."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
            if not inside:
                raise ConfigError(f"{path}: no Sigma rules there (*.yml or *.yaml, searched recursively)")
            found += inside
        elif path.is_file():
            found.append(path)
        else:
            raise ConfigError(f"{path}: no such file or folder; give Sigma rule files or folders of them")
    if not found:
        raise ConfigError("no Sigma rules given; name rule files or folders, e.g. rules/cloud/aws/cloudtrail")
    return list(dict.fromkeys(found))


def load_rules(paths: Iterable[str | Path]) -> list[Rule]:
    """Every rule of the files and folders in ``paths``, each converted or with its reason; each has a view name
    of its own. Raises :class:`ConfigError` only for a path that does not exist or holds no rule file."""
    backend = DuckDBSigmaBackend()
    rules = [rule for path in rule_files(paths) for rule in _file_rules(path, backend)]
    _name_views(rules)
    return rules


def _file_rules(path: Path, backend: DuckDBSigmaBackend) -> Iterator[Rule]:
    started = time.perf_counter()
    try:
        text = _read(path)
        collection = SigmaCollection.from_yaml(text, collect_errors=True, source=SigmaRuleLocation(path))
    except _Refused as exc:
        yield Rule(path, 1, None, path.name, unsupported=str(exc))
        return
    except Exception as exc:  # pySigma's own errors, and whatever else it raises on a file it cannot read
        yield Rule(path, 1, None, path.name, unsupported=f"not a Sigma rule file: {_said(exc)}")
        return
    if not collection.rules:
        reason = "; ".join(_said(e) for e in collection.errors) or "no rule in it"
        yield Rule(path, 1, None, path.name, unsupported=f"not a Sigma rule file: {reason}")
        return
    for number, item in enumerate(collection.rules, 1):
        # A rule pySigma collected errors for may hold anything where its metadata belongs: keep only what is
        # of the type the output promises.
        rule = Rule(
            path,
            number,
            str(item.id) if item.id else None,
            _text(item.title) or path.name,
            level=_enum_name(item.level),
            status=_enum_name(item.status),
            tags=[str(t) for t in item.tags] if isinstance(item.tags, list) else [],
        )
        rule.view = _text(item.name) or (path.stem if number == 1 else f"{path.stem}_{number}")
        try:
            rule.condition, rule.unsupported = _convert(item, backend)
        except Exception as exc:  # never a traceback, never a stop for the other rules
            rule.condition, rule.unsupported = None, f"pySigma cannot convert it: {_said(exc)}"
        rule.seconds = time.perf_counter() - started
        started = time.perf_counter()
        yield rule


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _enum_name(value: object) -> str | None:
    name = getattr(value, "name", None)
    return name.lower() if isinstance(name, str) else None


def _convert(
    item: SigmaRule | SigmaCorrelationRule, backend: DuckDBSigmaBackend
) -> tuple[str | None, str | None]:
    """The rule's condition, or why it cannot run."""
    if isinstance(item, SigmaCorrelationRule):
        return (
            None,
            f"a correlation rule ({item.type.name.lower()}): trailduck runs its base rules on their own",
        )
    if item.errors:
        return None, "; ".join(_said(e) for e in item.errors)
    source = item.logsource
    if (source.product or "").lower() != PRODUCT or (source.service or "").lower() != SERVICE:
        return None, (
            f"log source {_logsource(item)} is not CloudTrail (product: {PRODUCT}, service: {SERVICE})"
        )
    conditions = item.detection.condition
    if not isinstance(conditions, list) or not all(isinstance(c, str) for c in conditions):
        return None, "its condition is not text (condition: a string, or a list of strings)"
    if any("|" in c for c in conditions):
        return None, "an aggregation in the condition ('| count() ...'): write it as SQL over the rule's view"
    try:
        backend.convert_rule(item)
        # What it converted to, also for a rule a correlation rule refers to (which convert_rule keeps back).
        queries = item.get_conversion_result()
    except SigmaError as exc:
        return None, _said(exc)
    except Exception as exc:  # pySigma's own limits: never a traceback, never a stop for the other rules
        return None, f"pySigma cannot convert it: {_said(exc)}"
    if not queries:
        return None, "its detection converts to nothing"
    condition = " OR ".join(f"({q})" for q in queries) if len(queries) > 1 else str(queries[0])
    if len(condition) > MAX_CONDITION_CHARS:
        return None, (
            f"too large: its SQL is {len(condition):,} characters, over {MAX_CONDITION_CHARS:,} (DuckDB's memory "
            "grows faster than a condition's size); split it into smaller rules"
        )
    return condition, None


def _logsource(item: SigmaRule) -> str:
    source = item.logsource
    parts = [
        f"{k}: {v}"
        for k, v in (("category", source.category), ("product", source.product), ("service", source.service))
        if v
    ]
    return "(" + ", ".join(parts) + ")" if parts else "(none)"


def _said(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, RecursionError):
        text = "nested too deeply"
    return text.splitlines()[0][:300]


class _Refused(Exception):
    """A file refused before parsing it as Sigma."""


def _read(path: Path) -> str:
    with path.open("rb") as f:
        data = f.read(MAX_RULE_BYTES + 1)
    if len(data) > MAX_RULE_BYTES:
        raise _Refused(f"larger than {MAX_RULE_BYTES >> 20} MiB: not a Sigma rule (rules are a few KB)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Refused(f"not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start})") from exc
    _check_expansion(text)
    return text


def _check_expansion(text: str) -> None:
    """Refuse YAML that is not mappings, or whose aliases would add more than :data:`MAX_NODES` nodes once
    expanded, counting each shared node's expansion once (never expanding it)."""
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise _Refused(f"not YAML: {' '.join(str(exc).split())[:300]}") from exc
    except RecursionError as exc:
        raise _Refused("not a Sigma rule: YAML nested too deeply") from exc
    if any(doc is not None and not isinstance(doc, yaml.MappingNode) for doc in documents):
        raise _Refused(
            "not a Sigma rule: a YAML document that is not a mapping (title:, logsource:, detection:)"
        )
    sizes: dict[int, int] = {}
    cap = MAX_NODES * 10

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = 1  # a node that contains itself counts once
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        sizes[id(node)] = min(total, cap)
        return sizes[id(node)]

    try:
        expanded = sum(size(doc) for doc in documents if doc is not None)
    except RecursionError as exc:
        raise _Refused("not a Sigma rule: YAML nested too deeply") from exc
    if expanded - len(sizes) > MAX_NODES:
        raise _Refused(
            f"YAML anchors and aliases would add over {MAX_NODES:,} nodes (a YAML bomb?): not read"
        )


def _name_views(rules: list[Rule]) -> None:
    """``sigma_<name>`` for each rule, from its ``name`` or its file's name, made unique."""
    taken: set[str] = set()
    for rule in rules:
        base = VIEW_PREFIX + (
            _VIEW_CHARS.sub("_", (rule.view or rule.file.stem).lower()).strip("_") or "rule"
        )
        base = base[:60]
        view, n = base, 2
        while view in taken:
            view, n = f"{base}_{n}", n + 1
        taken.add(view)
        rule.view = view
