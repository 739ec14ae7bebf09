"""A document's legal status on a given date: draft / not_yet_effective / in_force / expired / repealed.

Order of precedence: a draft is always a draft; a repeal (废止 decision, or a later document saying the earlier one
'不再执行/同时废止') dated on or before the day wins; then the validity window. Expiry dates are inclusive
(有效期至 2028-07-12 means the document still applies on 2028-07-12). Without an effective date, the signing
date is used (published documents apply from signature unless they say otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

STATUSES = ("draft", "not_yet_effective", "in_force", "expired", "repealed", "superseded_version")


@dataclass(frozen=True)
class Repeal:
    target: str  # 文号
    on: date | None
    by: str  # key of the repealing document
    kind: str  # repeals / supersedes
    line: int


def status_on(as_of: date, *, draft: bool, signed: date | None, effective: date | None, expires: date | None,
              repeals: list[Repeal] = (), current: bool = True) -> str:
    if not current:
        return "superseded_version"
    if draft:
        return "draft"
    for r in repeals:
        if r.on is not None and r.on <= as_of:
            return "repealed"
    start = effective or signed
    if start is not None and as_of < start:
        return "not_yet_effective"
    if expires is not None and as_of > expires:
        return "expired"
    return "in_force"
