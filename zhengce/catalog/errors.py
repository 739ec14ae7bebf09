"""Catalog errors (store, lookup, citations)."""

from __future__ import annotations

from zhengce.errors import ZhengceError


class CatalogError(ZhengceError):
    """The catalog database cannot be opened or used."""


class DocumentNotFound(CatalogError):
    """No document matches the given 文号, key or title."""


class CitationError(CatalogError):
    """A rule's citation (document, article, lines) does not resolve to the catalog."""
