"""Coverage accounting: every inventory clause is encoded, deliberately not encoded (with a reason) or not computable."""

from __future__ import annotations

from zhengce.coverage import compute, totals


def test_every_clause_is_accounted_for(pack):
    docs = compute(pack)
    unaccounted = [f"{d.doc_no} {c.id} {c.article} L{c.lines[0]}-{c.lines[1]}" for d in docs for c in d.clauses
                   if c.status == "unaccounted"]
    assert not unaccounted, "clauses neither encoded nor explained:\n" + "\n".join(unaccounted)
    assert not totals(docs)["documents_without_inventory"]


def test_every_pack_rule_is_in_an_inventory(pack):
    untracked = [(d.doc_no, d.untracked_rules) for d in compute(pack) if d.untracked_rules]
    assert not untracked, f"rules whose catalog ids are not in the inventory: {untracked}"


def test_every_encoded_clause_is_tested(pack):
    untested = [f"{d.doc_no} {c.id}" for d in compute(pack) for c in d.clauses if c.status == "encoded" and not c.tested]
    assert not untested, untested


def test_every_not_encoded_clause_has_a_reason(pack):
    for d in compute(pack):
        for c in d.clauses:
            if c.status in ("not_encoded", "not_computable"):
                assert c.reason and len(c.reason) > 10, f"{d.doc_no} {c.id}: reason too thin"


def test_seed_documents_in_scope_have_packs(pack):
    """Issue 2 scope: the gazette 2023-1, 2023-4 and 2020-8 documents with enterprise-facing money rules."""
    scope = {
        "威发〔2023〕3号", "威政办发〔2023〕1号", "威政办发〔2023〕3号", "威政办发〔2023〕5号", "威政办发〔2023〕6号",
        "威政办发〔2023〕7号", "威政办发〔2023〕8号", "威政办发〔2023〕9号", "威财金〔2023〕2号", "威财金〔2023〕11号",
        "威商务发〔2023〕1号", "威政发〔2023〕5号", "威政办发〔2023〕12号", "威金监发〔2023〕25号", "威政发〔2020〕6号",
        "威发改发〔2020〕227号", "威市监发〔2020〕56号",
    }
    assert scope <= set(pack.documents), sorted(scope - set(pack.documents))
