"""What a run does with the files it lists: the rule of CONTRACT 1 and 1b, pure.

- A file stamped more than an hour ahead of now is refused and left in place (a clock error).
- The load history decides, not the archive: a file (key and ETag) it holds is never applied
  again, only archived (its archive failed before).
- Of the full snapshots, only the newest is applied; it is skipped as `unchanged` when it has the
  ETag of the last snapshot applied (the exporter re-sent the same bytes). Older ones are archived
  with it: the newest supersedes them.
- Every change file not in the history is applied, each once.
- What is applied goes in stamp order across both kinds (a snapshot before a change file of the
  same stamp): a row's version (fleettickets.load), not this order, keeps tickets from rolling back.
- A file stamped before the newest one already applied arrives late: its rows older than the
  stored ones were never the stored state, so the event history will not list them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from fleettickets.loads import Identity
from fleettickets.snapshot import FeedFile, in_future, newest


@dataclass(frozen=True)
class RunPlan:
    apply: list[FeedFile] = field(default_factory=list)  # in the order they apply
    unchanged: FeedFile | None = None  # the newest snapshot, byte-identical to the last one: recorded, archived
    done: list[FeedFile] = field(default_factory=list)  # applied before (their archive failed): archived
    superseded: list[FeedFile] = field(default_factory=list)  # snapshots older than the newest: archived
    future: list[FeedFile] = field(default_factory=list)  # refused: stamped ahead of now, left in place
    newest: FeedFile | None = None  # the newest file not in the future: the exporter's last sign of life
    late: frozenset[FeedFile] = frozenset()  # of `apply`: stamped before the newest file applied already


def plan_run(
    listed: list[FeedFile],
    applied: set[Identity],
    last_snapshot_etag: str | None,
    newest_applied: datetime | None,
    now: datetime,
) -> RunPlan:
    future = sorted((f for f in listed if in_future(f.stamp, now)), key=lambda f: f.order)
    present = [f for f in listed if not in_future(f.stamp, now)]
    latest = newest([f for f in present if f.kind == "snapshot"])
    apply: list[FeedFile] = []
    done: list[FeedFile] = []
    superseded: list[FeedFile] = []
    unchanged = None
    for f in present:
        if (f.key, f.etag) in applied:
            done.append(f)
        elif f.kind == "change":
            apply.append(f)
        elif f is not latest:
            superseded.append(f)
        elif f.etag is not None and f.etag == last_snapshot_etag:
            unchanged = f
        else:
            apply.append(f)
    return RunPlan(
        apply=sorted(apply, key=lambda f: f.order),
        unchanged=unchanged,
        done=sorted(done, key=lambda f: f.order),
        superseded=sorted(superseded, key=lambda f: f.order),
        future=future,
        newest=newest(present),
        late=frozenset(f for f in apply if newest_applied and f.stamp < newest_applied),
    )
