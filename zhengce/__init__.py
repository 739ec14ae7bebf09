"""zhengce (政策): Weihai's municipal policies made executable.

Public API::

    from zhengce import load_pack, evaluate
    pack = load_pack()                      # every rule pack under policies/
    report = evaluate(pack, entity, as_of=date(2023, 6, 1))
"""

from zhengce.errors import ZhengceError

__all__ = ["evaluate", "load_pack", "ZhengceError"]
__version__ = "0.1.0"


def __getattr__(name: str):  # lazy: keep `import zhengce` (and the CLI start-up) cheap
    if name == "evaluate":
        from zhengce.engine.evaluate import evaluate

        return evaluate
    if name == "load_pack":
        from zhengce.rules.loader import load_pack

        return load_pack
    raise AttributeError(name)
