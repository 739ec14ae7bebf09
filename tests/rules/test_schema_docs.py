"""The rule-pack JSON Schema in docs/ is generated from the pydantic models; keep it in sync."""

import json

from tests.conftest import REPO
from zhengce.rules.model import PackFile


def test_rule_pack_json_schema_is_current():
    have = json.loads((REPO / "docs" / "rule-pack.schema.json").read_text(encoding="utf-8"))
    assert have == PackFile.model_json_schema(), "regenerate: zhengce rules schema > docs/rule-pack.schema.json"


def test_check_json_has_documented_keys(pack):
    from datetime import date

    from zhengce.engine.evaluate import evaluate
    from zhengce.entities.loader import load_entities

    (e,) = load_entities(REPO / "examples" / "enterprise.yaml", pack.schema)
    js = evaluate(pack, e, date(2023, 6, 30)).to_json()
    doc = (REPO / "docs" / "output-schema.md").read_text(encoding="utf-8")
    for key in list(js) + list(js["summary"]) + list(js["results"][0]) + list(js["group_caps"][0]):
        assert f'"{key}"' in doc, f"{key} is not documented in docs/output-schema.md"
    assert js["results"][0]["amount_yuan"] is None or isinstance(js["results"][0]["amount_yuan"], str)
