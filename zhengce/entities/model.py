"""An entity under evaluation: its type, id, normalised field values and nested child entities."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Entity:
    type: str
    id: str
    fields: dict[str, object]
    name: str | None = None
    children: list[Entity] = field(default_factory=list)
    source: str = ""
    record: str | int | None = None
    warnings: list[str] = field(default_factory=list)  # input values worth a second look (e.g. unknown titles)

    def label(self) -> str:
        return f"{self.name}（{self.id}）" if self.name else self.id
