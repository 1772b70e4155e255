r"""Rules that say which FOCUS charges are LLM billing, and the built-in cloud presets.

A rule matches ``ServiceName``, ``SkuId``, ``ChargeDescription``, ``SkuMeter`` and/or
``ResourceId`` (every column it names must match: a string by equality, a table
``{ regex = "..." }`` by search)
and then either *excludes* the charge (``exclude = true``) or *sets* what the charge is:

* ``provider``, ``model``, ``token_type`` (``input``, ``cache_read``, ``cache_write``,
  ``cache_write_1h``, ``output``, or ``other`` for LLM money that is not tokens) and
  ``service_tier`` (``standard``, ``batch``, ``priority``, ``flex``);
* ``deployment`` (``global``, ``geo``, ``data_zone``, ``regional``: where it ran; Bedrock's
  ``global`` is part of the model id, see :mod:`finops.cloud_models`) and ``context``
  (``long`` for a long-context SKU): kept on the parsed charge for audit;
* ``provisioned = true``: reserved capacity billed by the hour (token type ``other``). Its
  ``model`` is the model the capacity serves: the capacity is allocated over the teams whose
  spans used that model that day, by token share (README "Provisioned capacity"). A rule
  matching the capacity's ``ResourceId`` can name it; on Bedrock, with no ``model``, the
  provisioned model's ARN is used (what spans invoking it carry as their model).

A field is set literally, or from a named group of a regex. A group may be suffixed ``_2``,
``_3`` ... (Python's ``re`` cannot reuse a group name in alternatives): the first
alternative that matched gives the value. Values are read through a *vocabulary*
(``Inp`` -> ``input``, ``glbl`` -> ``global``): a preset declares its own, words are
compared lower-cased with runs of ``-``, ``_`` and spaces read as one space.

Presets (``preset = "aws-bedrock" | "azure-openai" | "gcp-vertex-ai"``) are TOML files in
``finops/billing/focus_presets/``; each names its provider and sources, and its rules are
tried after the source's own ``rules``. The first matching rule wins.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finops.canonical import canonical_tier
from finops.errors import ConfigError
from finops.schemas import OTHER, SERVICE_TIERS, TOKEN_TYPES

MATCH_COLUMNS = ("ServiceName", "SkuId", "ChargeDescription", "SkuMeter", "ResourceId")
SETS = ("provider", "model", "token_type", "service_tier", "deployment", "context")
FLAGS = ("exclude", "provisioned")
DEPLOYMENTS = ("global", "geo", "data_zone", "regional")
PRESET_DIR = Path(__file__).resolve().parent / "focus_presets"

# Token type words any rule may use -> canonical token type (keys in the normalised form).
TOKEN_WORDS = {
    **{t.replace("_", " "): t for t in TOKEN_TYPES}, OTHER: OTHER,
    "cached input": "cache_read", "cache read": "cache_read", "cache read input tokens":
    "cache_read", "cache write": "cache_write", "cache writes": "cache_write",
    "cache write 5m": "cache_write", "cache write 1h": "cache_write_1h",
    "uncached input": "input", "uncached input tokens": "input", "output tokens": "output",
}
_GROUP_SUFFIX = re.compile(r"_\d+$")


def word(value: str) -> str:
    """A vocabulary key: lower-case, runs of ``-``, ``_`` and spaces as one space."""
    return re.sub(r"[\s_-]+", " ", value.strip().lower())


@dataclass(frozen=True)
class Rule:
    """One mapping rule: column matchers, the fields it sets, and where it comes from."""

    match: Mapping[str, str | re.Pattern[str]]
    sets: Mapping[str, str]
    origin: str = "rules"
    exclude: bool = False
    provisioned: bool = False
    vocabulary: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def apply(self, values: Mapping[str, str]) -> dict[str, str] | None:
        """The raw fields this rule sets for a row, or ``None`` when it does not match."""
        out = dict(self.sets)
        for col, m in self.match.items():
            v = values.get(col) or ""
            if isinstance(m, str):
                if v != m:
                    return None
                continue
            found = m.search(v)
            if not found:
                return None
            for k, g in found.groupdict().items():
                name = _GROUP_SUFFIX.sub("", k)
                if name in SETS and g is not None and name not in out:
                    out[name] = g
        return out

    def read(self, name: str, value: str) -> str:
        """``value`` of field ``name`` through this rule's vocabulary (normalised word if absent)."""
        key = word(value)
        return self.vocabulary.get(name, {}).get(key, key)


def suggest(key: str, allowed: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the nearest of ``allowed``, or ``""``."""
    low = key.lower()
    near = [a for a in allowed if low and low in a.lower()]  # "aws" -> "aws-bedrock"
    if len(near) != 1:
        near = difflib.get_close_matches(key, allowed, n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


def parse_rules(raw: Any, where: str, *, origin: str = "rules", default_provider: str | None = None,
                vocabulary: Mapping[str, Mapping[str, str]] | None = None) -> list[Rule]:
    """Rules from config or a preset (a list of tables); errors name ``where`` and the index."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: rules must be a list of tables")
    vocab = vocabulary or {}
    allowed = [*MATCH_COLUMNS, *SETS, *FLAGS]
    rules = []
    for i, r in enumerate(raw):
        w = f"{where}: {origin}[{i}]"
        if not isinstance(r, Mapping):
            raise ConfigError(f"{w} must be a table")
        for key in r:
            if key not in allowed:
                raise ConfigError(f"{w}: unknown key {key!r}{suggest(key, allowed)}; match on "
                                  f"{', '.join(MATCH_COLUMNS)}, set {', '.join(SETS)} or "
                                  f"{' / '.join(FLAGS)}")
        match: dict[str, str | re.Pattern[str]] = {}
        groups: set[str] = set()
        for col in MATCH_COLUMNS:
            if col not in r:
                continue
            v = r[col]
            if isinstance(v, str):
                match[col] = v
            elif isinstance(v, Mapping) and set(v) == {"regex"} and isinstance(v["regex"], str):
                try:
                    pat = re.compile(v["regex"])
                except re.error as e:
                    raise ConfigError(f"{w}.{col}: bad regex: {e}") from None
                match[col] = pat
                groups |= {_GROUP_SUFFIX.sub("", g) for g in pat.groupindex}
            else:
                raise ConfigError(f"{w}.{col} must be a string or {{ regex = \"...\" }}")
        if not match:
            raise ConfigError(f"{w}: needs at least one of {', '.join(MATCH_COLUMNS)}")
        flags = {}
        for flag in FLAGS:
            if flag in r and not isinstance(r[flag], bool):
                raise ConfigError(f"{w}.{flag} must be true or false")
            flags[flag] = bool(r.get(flag, False))
        sets = {k: str(r[k]) for k in SETS if k in r}
        if default_provider and "provider" not in sets and "provider" not in groups:
            sets["provider"] = default_provider
        if flags["exclude"]:
            if sets.keys() - {"provider"} or flags["provisioned"]:
                raise ConfigError(f"{w}: an exclude rule sets nothing else")
            rules.append(Rule(match, {}, f"{origin}[{i}]", exclude=True))
            continue
        if flags["provisioned"]:
            sets.setdefault("token_type", OTHER)
        for need in ("provider", "token_type"):
            if need not in sets and need not in groups:
                raise ConfigError(f"{w}: sets no {need} (give it, or a named regex group)")
        rule = Rule(match, sets, f"{origin}[{i}]", provisioned=flags["provisioned"],
                    vocabulary=vocab)
        if "token_type" in sets and _token_type(rule, sets["token_type"]) is None:
            raise ConfigError(f"{w}: token_type {sets['token_type']!r} is not one of "
                              f"{', '.join(TOKEN_TYPES)} or {OTHER}")
        if flags["provisioned"] and _token_type(rule, sets["token_type"]) != OTHER:
            raise ConfigError(f"{w}: provisioned capacity is billed by the hour: token_type "
                              f"must be {OTHER!r}")
        if "service_tier" in sets and service_tier(rule, sets["service_tier"]) not in SERVICE_TIERS:
            raise ConfigError(f"{w}: service_tier {sets['service_tier']!r} is not one of "
                              f"{', '.join(SERVICE_TIERS)}")
        rules.append(rule)
    return rules


def _token_type(rule: Rule, value: str) -> str | None:
    key = rule.read("token_type", value)
    return TOKEN_WORDS.get(key.replace("_", " "))


def token_type(rule: Rule, value: str) -> str | None:
    """The canonical token type of a rule's raw ``token_type`` value, or ``None``."""
    return _token_type(rule, value)


def service_tier(rule: Rule, value: str | None) -> str:
    """The canonical service tier of a rule's raw ``service_tier`` value (may be unknown)."""
    return canonical_tier(rule.read("service_tier", value) if value else None)


def preset_names() -> list[str]:
    """The bundled presets, by name."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_preset(name: Any, where: str) -> tuple[str, list[Rule]]:
    """The provider and rules of preset ``name``; an unknown name is a config error."""
    names = preset_names()
    if not isinstance(name, str) or name not in names:
        raise ConfigError(f"{where}: preset {name!r} is not one of {', '.join(names)}"
                          f"{suggest(str(name), names)}")
    path = PRESET_DIR / f"{name}.toml"
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:  # a packaging bug, not the user's config
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    provider = doc.get("provider")
    if not isinstance(provider, str) or not provider:
        raise ConfigError(f"{path}: missing top-level 'provider'")
    vocab = {k: {word(w): str(v) for w, v in table.items()}
             for k, table in (doc.get("vocabulary") or {}).items()}
    unknown = set(vocab) - set(SETS)
    if unknown:
        raise ConfigError(f"{path}: vocabulary for unknown field(s) {sorted(unknown)}")
    rules = parse_rules(doc.get("rules"), f"{where} (preset {name})", origin=f"preset {name} rules",
                        default_provider=provider, vocabulary=vocab)
    return provider, rules
