"""One exception hierarchy. Every message names where (file, rule, record, field) and what to fix."""

from __future__ import annotations


class ZhengceError(Exception):
    """Base class for every error zhengce raises on purpose."""


class ExpressionError(ZhengceError):
    """An expression could not be parsed or type-checked."""

    def __init__(self, message: str, source: str = "", position: int | None = None):
        self.source = source
        self.position = position
        where = ""
        if source:
            caret = "" if position is None else "\n    " + " " * position + "^"
            where = f"\n    {source}{caret}"
        super().__init__(f"{message}{where}")


class RulePackError(ZhengceError):
    """A rule pack file is malformed. Names the file, the rule id (when known) and the field."""

    def __init__(self, file: str, message: str, rule_id: str | None = None, field: str | None = None):
        self.file = file
        self.rule_id = rule_id
        self.field = field
        parts = [str(file)]
        if rule_id:
            parts.append(f"rule {rule_id}")
        if field:
            parts.append(f"field '{field}'")
        super().__init__(": ".join([", ".join(parts), message]))


class EntityError(ZhengceError):
    """An entity record is malformed. Names the source, the record and the field."""

    def __init__(self, message: str, source: str = "", record: str | int | None = None, field: str | None = None):
        self.source = source
        self.record = record
        self.field = field
        parts = []
        if source:
            parts.append(str(source))
        if record is not None:
            parts.append(f"record {record}")
        if field:
            parts.append(f"field '{field}'")
        prefix = ", ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ParameterError(ZhengceError):
    """A dated parameter is missing or has no value at the requested date."""
