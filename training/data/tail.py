"""Small classes: what a class with too few products to be split gets, as the team chooses (`split.small_classes`).

Real catalogues have a long tail: hundreds of categories with one to four products. A class is *small* when it
has fewer than `split.min_class_products` products (rows, when the catalogue has no product column). Nothing is
refused for it:

- `train` (default): the class keeps all its rows in train (`training.data.split`): it is learnt, served, and
  reported as "learnt, not evaluated";
- `parent` (path labels): the class is folded into its parent category, deepest first, until the parent's products
  reach the minimum or it is a department; what is still small then trains as above. A product filed under two
  folded siblings counts once for each (a listing filed under both then trains once: `planned_catalogue`);
- `drop`: the class's rows leave the run, counted in the data report and the run summary.

Both engines plan from the products per class (`plan_small_classes`) and apply the plan row by row
(`apply_plan`), so the Dask engine can do it partition by partition.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from training.columns import GROUP, LABEL

if TYPE_CHECKING:
    import pandas as pd

    from training.config import SplitConfig, TrainConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TailPlan:
    """What the policy does to the small classes of one catalogue.

    Attributes:
        policy: `split.small_classes`.
        min_products: `split.min_class_products`.
        small: How many classes were small as given.
        folded: `parent`: each folded label and the category it now belongs to.
        dropped: `drop`: the labels whose rows leave the run.
        train_only: The classes still small after the policy: all their products train.
        grown: `parent`: the small classes that kept their label and reached `min_products` with the classes folded
            into them.
    """

    policy: str
    min_products: int
    small: int
    folded: dict[str, str] = field(default_factory=dict)
    dropped: tuple[str, ...] = ()
    train_only: int = 0
    grown: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, the folded and dropped labels counted rather than listed."""
        summary = asdict(self)
        summary["folded"] = len(self.folded)
        summary["dropped"] = len(self.dropped)
        return summary

    def describe(self) -> str:
        """One sentence for the data report, the log and the model card."""
        if not self.small:
            return f"Every class has at least {self.min_products} products"
        head = f"{self.small} classes have fewer than {self.min_products} products (split.small_classes: {self.policy})"
        if self.policy == "drop":
            return f"{head}: {len(self.dropped)} dropped from the run"
        folded = f"{len(self.folded)} folded into their parent category; " if self.policy == "parent" else ""
        grown = f"{self.grown} reached it with the classes folded into them; " if self.grown else ""
        return f"{head}: {folded}{grown}{self.train_only} train on all their rows (learnt, not evaluated)"


def products_per_class(frame: pd.DataFrame) -> pd.Series:
    """Distinct products per label (rows in a frame without a product column)."""
    if GROUP in frame.columns:
        return frame[[GROUP, LABEL]].drop_duplicates().groupby(LABEL, sort=False).size()
    return frame.groupby(LABEL, sort=False).size()


def plan_small_classes(counts: pd.Series, config: SplitConfig, separator: str | None) -> TailPlan:
    """The policy's plan for a catalogue with `counts` products per class.

    Args:
        counts: Products per label.
        config: `split.small_classes` and `split.min_class_products`.
        separator: `data.path_separator`; without one, `parent` has nothing to fold into and acts as `train`.
    """
    minimum = config.min_class_products
    small = sorted(str(label) for label in counts[counts < minimum].index)
    if config.small_classes == "drop":
        return TailPlan("drop", minimum, len(small), dropped=tuple(small))
    sizes = {str(label): int(n) for label, n in counts.items()}
    folded: dict[str, str] = {}
    if config.small_classes == "parent" and separator:
        folded = _fold_into_parents(sizes, minimum, separator)
    still_small = sum(1 for n in sizes.values() if n < minimum)
    grown = sum(1 for label in small if label not in folded and sizes.get(label, 0) >= minimum)
    return TailPlan(config.small_classes, minimum, len(small), folded=folded, train_only=still_small, grown=grown)


def apply_plan(frame: pd.DataFrame, plan: TailPlan) -> pd.DataFrame:
    """The rows with folded labels renamed and dropped classes left out."""
    if plan.dropped:
        frame = frame[~frame[LABEL].isin(plan.dropped)]
    if plan.folded:
        frame = frame.assign(**{LABEL: frame[LABEL].map(lambda label: plan.folded.get(label, label))})
    return frame


def treat_small_classes(frame: pd.DataFrame, config: TrainConfig) -> tuple[pd.DataFrame, TailPlan]:
    """A cleaned catalogue as the run learns it (`split.small_classes` planned and applied), and the plan: training
    splits this frame, so whatever must find the run's test rows again (`make compare`) splits it too."""
    plan = plan_small_classes(products_per_class(frame), config.split, config.data.path_separator)
    planned, copies = planned_catalogue(frame, plan)
    if copies:
        logger.info("dropped", extra={"reason": "copies once small classes were folded", "rows": copies})
    return planned, plan


def planned_catalogue(frame: pd.DataFrame, plan: TailPlan) -> tuple[pd.DataFrame, int]:
    """A cleaned catalogue with the plan applied, and how many of its rows folding made copies of another (dropped,
    as cleaning drops copies): a product filed under two small siblings is one row of their parent. The Dask engine
    drops such copies as it drops every copy, once rows are shuffled by product."""
    planned = apply_plan(frame, plan)
    kept = planned.drop_duplicates() if plan.folded else planned
    return kept.reset_index(drop=True), len(planned) - len(kept)


def _fold_into_parents(sizes: dict[str, int], minimum: int, separator: str) -> dict[str, str]:
    """Fold small labels into their parents, deepest first, until none small is below a department; `sizes` is
    updated in place. Returns each original label that moved and where it ended."""
    members = {label: [label] for label in sizes}
    while True:
        movable = [label for label, n in sizes.items() if n < minimum and separator in label]
        if not movable:
            break
        depth = max(label.count(separator) for label in movable)
        for label in (label for label in movable if label.count(separator) == depth):
            parent = label.rsplit(separator, 1)[0]
            sizes[parent] = sizes.get(parent, 0) + sizes.pop(label)
            members.setdefault(parent, []).extend(members.pop(label))
    return {original: target for target, originals in members.items() for original in originals if original != target}
