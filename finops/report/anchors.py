"""Stable page anchors and file names for teams: ``#team-search``, ``teams/search.html``.

Team names come from span attributes: any Unicode, untrusted. An anchor is the name's ASCII
slug; where two names give the same slug (``Search`` and ``search``, or two names with no
ASCII letter at all) each gets a short hash of its own name, except a name that already *is*
its slug, which keeps it bare. So an anchor depends only on the name and on which other names
collide with it, never on a team's rank, and a link to ``#team-search`` stays right month
after month.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable

__all__ = ["anchors", "slug"]

MAX_SLUG = 48


def slug(name: str) -> str:
    """Lower-case ASCII letters, digits and single hyphens (``Data Science/ML`` → ``data-science-ml``); may be empty."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:MAX_SLUG].strip("-")


def _hash(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:6]


def anchors(names: Iterable[str]) -> dict[str, str]:
    """Each name's anchor slug (unique among ``names``, safe as an HTML id and a file name)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for n in dict.fromkeys(names):
        groups[slug(n)].append(n)
    out: dict[str, str] = {}
    for s, members in groups.items():
        for n in members:
            if s and (len(members) == 1 or n == s):
                out[n] = s
            else:
                out[n] = f"{s}-{_hash(n)}" if s else _hash(n)
    # A hashed anchor could equal another name's bare slug ("a-1b2c3d" as a team name): hash again.
    # Bare slugs first, then by name: the outcome does not depend on the order names came in.
    taken: dict[str, str] = {}
    for n, a in sorted(out.items(), key=lambda na: (na[1] != slug(na[0]), na[0])):
        while a in taken and taken[a] != n:
            a = f"{a}-{_hash(a + n)}"
        taken[a] = n
        out[n] = a
    return out
