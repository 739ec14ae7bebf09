"""The policy catalog: documents and articles in SQLite with Chinese full-text search, status by date,
version diff, citations from rule packs and a linter.

    from zhengce.catalog import Catalog, search
    with Catalog("catalog.db") as cat:
        cat.ingest_path("公报.txt")
        hits = search(cat, "科技支行", status="in_force")
"""

from zhengce.catalog.errors import CatalogError, CitationError, DocumentNotFound
from zhengce.catalog.store import Catalog, DocRecord, default_db_path

__all__ = ["Catalog", "CatalogError", "CitationError", "DocRecord", "DocumentNotFound", "default_db_path"]
