"""Gazette ingest: plain-text Chinese government gazettes (公报) or single documents → structured documents.

    from zhengce.gazette import parse_file
    source = parse_file("公报2023-4.txt")
    for doc in source.documents:
        print(doc.doc_no, doc.title, doc.signed, doc.effective, doc.expires)
"""

from zhengce.gazette.dates import parse_date, parse_year
from zhengce.gazette.docno import find_docnos, normalize_docno
from zhengce.gazette.errors import GazetteError
from zhengce.gazette.model import Document, Node, ParsedSource
from zhengce.gazette.parser import parse_file, parse_text

__all__ = ["Document", "GazetteError", "Node", "ParsedSource", "find_docnos", "normalize_docno", "parse_date",
           "parse_file", "parse_text", "parse_year"]
