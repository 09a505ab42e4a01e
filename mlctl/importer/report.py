"""What the importer did with each part of a Recipes project."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["mapped", "approximated", "unmapped"]


@dataclass
class Item:
    """One Recipes setting or step function and where it went.

    ``status``: mapped (same behaviour), approximated (carried over with a documented
    difference) or unmapped (nothing in the mlctl recipe does it; see ``hint``).
    """

    source: str
    status: Status
    target: str | None
    detail: str
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    """Items in the order they were found, and the comments for the written YAML."""

    items: list[Item] = field(default_factory=list)
    comments: dict[str, str] = field(default_factory=dict)  # mlctl key path → comment

    def mapped(self, source: str, target: str | None, detail: str, comment: str = "") -> None:
        self.items.append(Item(source, "mapped", target, detail))
        if target and comment:
            self.comments[target] = comment

    def approximated(
        self,
        source: str,
        target: str | None,
        detail: str,
        hint: str | None = None,
        comment: str = "",
    ) -> None:
        self.items.append(Item(source, "approximated", target, detail, hint))
        if target and comment:
            self.comments[target] = comment

    def unmapped(self, source: str, detail: str, hint: str | None = None) -> None:
        self.items.append(Item(source, "unmapped", None, detail, hint))

    def count(self, status: Status) -> int:
        return sum(1 for i in self.items if i.status == status)
