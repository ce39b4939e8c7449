"""The time axis of a cube: which acquisitions are kept, and how they fall into time steps.

:func:`select` applies a :class:`~alignsar.cube.config.Selection` to a list of
:class:`AcquisitionInfo` records and returns a :class:`Timeline`:

1. filters, in this order, each acquisition collecting *every* reason it fails: ``start_time``
   unknown, before ``start_date`` (00:00 UTC), after ``end_date`` (the whole day is kept: up to
   ``end_date + 1 day`` exclusive), mid-swath incidence angle outside
   ``[min_incidence_angle, max_incidence_angle]`` (inclusive, deg; unknown angles fail when a bound
   is set), ``pass_direction``, ``relative_orbits``; then ``space_overlap`` (footprint does not
   intersect the earliest kept acquisition's footprint);
2. time steps: with ``temporal_resolution`` None each distinct acquisition time is a step at that
   time; otherwise bins of ``temporal_resolution`` days on a regular grid starting at ``start_date``
   00:00 UTC (else the first kept acquisition's day at 00:00 UTC), each step stamped with its bin
   start, bins half-open ``[start, start + resolution)``;
3. ``temporal_overlap`` on steps with several acquisitions: ``aggregate`` keeps them all in one step
   (``TimeStep.aggregation`` says how they are combined), ``keep_all`` makes each its own step at its
   own time (sub-steps of the bin), ``first`` / ``last`` keep the earliest / latest (the others go
   to ``excluded`` with the reason ``temporal_overlap=first: ...``), ``error`` raises ConfigError
   naming the products;
4. empty bins are dropped unless ``keep_empty`` (argument, else ``Selection.keep_empty``): then every
   bin from the grid start to the bin holding ``end_date`` (else the last kept acquisition) is a
   step, those without acquisitions with ``members=[]``.

Nothing disappears without a reason: every input acquisition is either a member of one step or in
``Timeline.excluded`` with its reason(s), joined by ``"; "``, each starting with the key that
excluded it (``start_date: ...``, ``incidence_angle: ...``, ``temporal_overlap=last: ...``).
Members are in time order (ties by product name).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from .config import Selection

__all__ = ["AcquisitionInfo", "TimeStep", "Timeline", "select"]

DAY_NS = 86_400 * 10**9
_MAX_BINS = 1_000_000


def _ns(value: Any) -> np.datetime64:
    """A UTC time as ``datetime64[ns]`` (NaT stays NaT)."""
    return np.datetime64(value, "ns")


def _iso(t: np.datetime64) -> str:
    return str(np.datetime_as_string(_ns(t), unit="us")) + "Z"


def _day_start(t: np.datetime64) -> np.datetime64:
    return t.astype("datetime64[D]").astype("datetime64[ns]")


@dataclass(frozen=True)
class AcquisitionInfo:
    """What the time selection needs to know about one acquisition.

    ``start_time`` is UTC (stored as ``datetime64[ns]``), ``incidence_angle_mid`` the mid-swath
    incidence angle (deg, NaN when unknown), ``pass_direction`` ``'ascending'`` / ``'descending'``
    (any case), ``footprint`` an optional shapely polygon (lon, lat), needed only by
    ``space_overlap``.
    """

    path: str
    product_name: str
    start_time: np.datetime64
    incidence_angle_mid: float
    pass_direction: str
    relative_orbit: int | None
    platform: str
    footprint: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_time", _ns(self.start_time))
        object.__setattr__(
            self, "incidence_angle_mid", float(self.incidence_angle_mid) if self.incidence_angle_mid is not None else float("nan")
        )

    @classmethod
    def from_acquisition(cls, acq: Any, swath: str | None = None) -> AcquisitionInfo:
        """From an :class:`alignsar.model.Acquisition` (mid incidence of ``swath``, else over all swaths)."""
        sw = acq.swath(swath) if swath is not None else None
        mid = (sw.incidence_angles if sw is not None else acq.incidence_angles)[1]
        return cls(
            path=str(acq.source_path),
            product_name=str(acq.product_name),
            start_time=acq.start_time,
            incidence_angle_mid=float(mid),
            pass_direction=str(acq.pass_direction),
            relative_orbit=acq.relative_orbit,
            platform=str(acq.platform),
            footprint=sw.footprint if sw is not None else acq.footprint,
        )

    def describe(self) -> dict[str, Any]:
        """JSON-able summary (times ISO 8601 UTC, angle in deg)."""
        inc = self.incidence_angle_mid
        return {
            "product": self.product_name,
            "path": self.path,
            "start_time": None if np.isnat(self.start_time) else _iso(self.start_time),
            "incidence_angle_mid": None if np.isnan(inc) else round(inc, 4),
            "pass_direction": self.pass_direction,
            "relative_orbit": self.relative_orbit,
            "platform": self.platform,
        }


@dataclass
class TimeStep:
    """One time step of the cube.

    ``time`` is the bin start (UTC), or the acquisition's own time when there is no binning or under
    ``keep_all``; ``end`` is the exclusive end of the bin (None without binning); ``members`` are in
    time order, combined by ``aggregation`` when there are several.
    """

    time: np.datetime64
    members: list[AcquisitionInfo]
    aggregation: str
    end: np.datetime64 | None = None

    def describe(self) -> dict[str, Any]:
        """JSON-able summary."""
        return {
            "time": _iso(self.time),
            "end": None if self.end is None else _iso(self.end),
            "aggregation": self.aggregation,
            "members": [m.product_name for m in self.members],
        }


@dataclass
class Timeline:
    """The selected time steps and every excluded acquisition with its reason."""

    steps: list[TimeStep]
    excluded: list[tuple[AcquisitionInfo, str]]
    selection: Selection
    keep_empty: bool = False

    @property
    def times(self) -> np.ndarray:
        """Step times, ``datetime64[ns]`` (UTC)."""
        return np.array([s.time for s in self.steps], dtype="datetime64[ns]")

    @property
    def members(self) -> list[AcquisitionInfo]:
        """Every kept acquisition, in step order."""
        return [m for s in self.steps for m in s.members]

    def __len__(self) -> int:
        return len(self.steps)

    def describe(self) -> dict[str, Any]:
        """JSON-able summary: the selection, the steps and the exclusions with reasons."""
        return {
            "selection": self.selection.model_dump(mode="json"),
            "keep_empty": self.keep_empty,
            "n_steps": len(self.steps),
            "n_empty_steps": sum(1 for s in self.steps if not s.members),
            "n_acquisitions": len(self.members),
            "n_excluded": len(self.excluded),
            "steps": [s.describe() for s in self.steps],
            "excluded": [{"product": a.product_name, "path": a.path, "reason": r} for a, r in self.excluded],
        }


# ----- selection ----------------------------------------------------------------------------------
def _fmt_deg(x: float | None) -> str:
    return "-inf" if x is None else f"{x:g}"


def _filter_reasons(a: AcquisitionInfo, sel: Selection) -> list[str]:
    reasons: list[str] = []
    t = a.start_time
    if np.isnat(t):
        reasons.append("start_time: acquisition time unknown")
    else:
        if sel.start_date is not None and t < _ns(sel.start_date):
            reasons.append(f"start_date: {_iso(t)} is before {sel.start_date.isoformat()}")
        if sel.end_date is not None and t >= _ns(sel.end_date) + np.timedelta64(DAY_NS, "ns"):
            reasons.append(f"end_date: {_iso(t)} is after {sel.end_date.isoformat()}")
    lo, hi = sel.min_incidence_angle, sel.max_incidence_angle
    if lo is not None or hi is not None:
        inc = a.incidence_angle_mid
        window = f"[{_fmt_deg(lo)}, {'inf' if hi is None else f'{hi:g}'}] deg"
        if np.isnan(inc):
            reasons.append(f"incidence_angle: unknown, required in {window}")
        elif (lo is not None and inc < lo) or (hi is not None and inc > hi):
            reasons.append(f"incidence_angle: {inc:.3f} deg outside {window}")
    if sel.pass_direction is not None and (a.pass_direction or "").strip().lower() != sel.pass_direction:
        reasons.append(f"pass_direction: {a.pass_direction or 'unknown'!s}, required {sel.pass_direction}")
    if sel.relative_orbits is not None and a.relative_orbit not in sel.relative_orbits:
        reasons.append(f"relative_orbits: {a.relative_orbit if a.relative_orbit is not None else 'unknown'} not in {sel.relative_orbits}")
    return reasons


def _space_overlap(kept: list[AcquisitionInfo]) -> tuple[list[AcquisitionInfo], list[tuple[AcquisitionInfo, str]]]:
    if not kept:
        return kept, []
    missing = [a.product_name for a in kept if a.footprint is None]
    if missing:
        raise ConfigError("selection.space_overlap", f"needs footprints, missing for {missing}")
    primary = kept[0]
    out, dropped = [primary], []
    for a in kept[1:]:
        if primary.footprint.intersects(a.footprint):
            out.append(a)
        else:
            dropped.append((a, f"space_overlap: footprint does not intersect that of {primary.product_name}"))
    return out, dropped


def _resolve_overlap(
    time: np.datetime64, end: np.datetime64 | None, members: list[AcquisitionInfo], sel: Selection
) -> tuple[list[TimeStep], list[tuple[AcquisitionInfo, str]]]:
    mode = sel.temporal_overlap
    if len(members) <= 1 or mode == "aggregate":
        return [TimeStep(time, members, sel.aggregation, end)], []
    if mode == "keep_all":
        return [TimeStep(m.start_time, [m], sel.aggregation, end) for m in members], []
    if mode in ("first", "last"):
        keep = members[0] if mode == "first" else members[-1]
        reason = f"temporal_overlap={mode}: time step {_iso(time)} keeps {keep.product_name}"
        return [TimeStep(time, [keep], sel.aggregation, end)], [(m, reason) for m in members if m is not keep]
    names = ", ".join(m.product_name for m in members)
    raise ConfigError(
        "selection.temporal_overlap",
        f"'error': {len(members)} acquisitions fall on the time step {_iso(time)}: {names} (choose aggregate, keep_all, first or last)",
    )


def select(acquisitions: Iterable[AcquisitionInfo], selection: Selection | None = None, *, keep_empty: bool | None = None) -> Timeline:
    """Apply ``selection`` to ``acquisitions`` (see the module docstring); ``keep_empty`` None = ``selection.keep_empty``."""
    sel = selection if selection is not None else Selection()
    keep_empty = sel.keep_empty if keep_empty is None else bool(keep_empty)
    acqs = sorted(acquisitions, key=lambda a: (np.isnat(a.start_time), a.start_time.astype(np.int64), a.product_name))

    kept: list[AcquisitionInfo] = []
    excluded: list[tuple[AcquisitionInfo, str]] = []
    for a in acqs:
        reasons = _filter_reasons(a, sel)
        if reasons:
            excluded.append((a, "; ".join(reasons)))
        else:
            kept.append(a)
    if sel.space_overlap:
        kept, dropped = _space_overlap(kept)
        excluded.extend(dropped)

    # group into steps: key -> (time, end, members)
    groups: list[tuple[np.datetime64, np.datetime64 | None, list[AcquisitionInfo]]] = []
    if sel.temporal_resolution is None:
        for a in kept:
            if groups and groups[-1][0] == a.start_time:
                groups[-1][2].append(a)
            else:
                groups.append((a.start_time, None, [a]))
    else:
        res = round(sel.temporal_resolution * DAY_NS)
        if res < 1:
            raise ConfigError("selection.temporal_resolution", f"{sel.temporal_resolution} days is below 1 ns")
        if sel.start_date is not None:
            origin = _ns(sel.start_date)
        elif kept:
            origin = _day_start(kept[0].start_time)
        else:
            origin = None
        if origin is not None:
            origin_i = int(origin.astype(np.int64))
            bins: dict[int, list[AcquisitionInfo]] = {}
            for a in kept:
                bins.setdefault((int(a.start_time.astype(np.int64)) - origin_i) // res, []).append(a)
            indices = sorted(bins)
            if keep_empty:
                if sel.end_date is not None:
                    last = (int(_ns(sel.end_date).astype(np.int64)) + DAY_NS - 1 - origin_i) // res
                else:
                    last = indices[-1] if indices else -1
                if last + 1 > _MAX_BINS:
                    raise ConfigError(
                        "selection.temporal_resolution", f"keep_empty would make {last + 1} time steps (more than {_MAX_BINS})"
                    )
                indices = list(range(last + 1))
            for i in indices:
                start = np.datetime64(origin_i + i * res, "ns")
                groups.append((start, start + np.timedelta64(res, "ns"), bins.get(i, [])))

    steps: list[TimeStep] = []
    for time, end, members in groups:
        new, dropped = _resolve_overlap(time, end, members, sel)
        steps.extend(new)
        excluded.extend(dropped)
    steps.sort(key=lambda s: s.time.astype(np.int64))  # stable: sub-steps keep their order
    excluded.sort(key=lambda e: (np.isnat(e[0].start_time), e[0].start_time.astype(np.int64), e[0].product_name))
    return Timeline(steps=steps, excluded=excluded, selection=sel, keep_empty=keep_empty)
