"""docs/entities.md is generated from the schema; keep it in sync (regenerate: zhengce fields --markdown > docs/entities.md)."""

from tests.conftest import REPO
from zhengce.entities.docs import render_markdown


def test_entities_doc_is_up_to_date(pack):
    want = render_markdown(pack.schema) + "\n"
    have = (REPO / "docs" / "entities.md").read_text(encoding="utf-8")
    assert have == want, "docs/entities.md is stale: run `zhengce fields --markdown > docs/entities.md`"
