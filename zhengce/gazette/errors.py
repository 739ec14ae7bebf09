"""Gazette ingest errors: each names the file (and line when known) and says what is wrong."""

from __future__ import annotations

from zhengce.errors import ZhengceError


class GazetteError(ZhengceError):
    """A gazette text could not be read or parsed."""

    def __init__(self, message: str, source: str = "", line: int | None = None):
        self.source = source
        self.line = line
        where = source
        if line is not None:
            where = f"{source}:{line}" if source else f"line {line}"
        super().__init__(f"{where}: {message}" if where else message)


class InputTooLargeError(GazetteError):
    """The file exceeds the configured size limit (protects memory and time)."""


class EncodingError(GazetteError):
    """The bytes are not text in a supported encoding (UTF-8/UTF-16 with BOM, GB18030/GBK)."""


class BinaryInputError(GazetteError):
    """The file looks binary (NUL bytes, control characters)."""


class EmptyInputError(GazetteError):
    """The file is empty or contains only whitespace."""
