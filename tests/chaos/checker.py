"""The chaos run's checker: pure functions over a recorded history and the final state.

The model is one register per user (a status, or absent), written by PUT and DELETE through the
gateway. Every request is recorded with its start and end on the runner's monotonic clock.

- An *acknowledged* operation is a PUT answered 2xx or a DELETE answered 204: it took effect at
  some moment between its start and its end.
- An *indeterminate* operation (a 5xx, a timeout, a broken connection) may or may not have
  taken effect, at any moment after its start (a node frozen with the request in its socket
  buffer may commit it long after the client gave up).
- A definite refusal (any other 4xx) changed nothing. A DELETE answered 404 may explain an
  absent final state (it may be the retry of an attempt that deleted) but need not survive.

The final value of a user is valid if it is the value of some operation `c` (the PUT whose
text it is; for "absent": a DELETE or the initial state) such that no acknowledged operation
started after `c` was acknowledged. Those that did are *lost*: they should have superseded `c`.
Of the lost ones we count the *frontier*: acknowledged operations that were not themselves
superseded by a later-started acknowledged one (a chain of three sequential writes of which the
final state holds the first counts one lost write, not two).

"Started after" allows `eps` seconds of slack: versions carry wall-clock milliseconds, so two
writes on different nodes less than a millisecond apart may be ordered either way by design.
Texts are unique per PUT, so a text identifies its operation.
"""
from dataclasses import dataclass, field
from typing import Optional

EPS = 0.002          # seconds: the version stamp's resolution, plus clock-reading slack
CLOCK_SLACK_MS = 20  # a stamp further than this from the real time of its request is skewed

INF = float("inf")


@dataclass
class Op:
    kind: str                 # "put" | "delete"
    user: str
    start: float              # monotonic seconds (relative to the run's start)
    end: float
    status: Optional[int]     # HTTP status, None for a timeout or connection error
    text: Optional[str] = None
    version: Optional[str] = None   # the answer's version (PUT 2xx)
    node: Optional[str] = None      # X-Served-By
    wall_start: Optional[float] = None  # time.time() at start/end (for stamp plausibility)
    wall_end: Optional[float] = None
    error: Optional[str] = None

    @property
    def acked(self):
        if self.status is None:
            return False
        return 200 <= self.status < 300

    @property
    def indeterminate(self):
        return self.status is None or self.status >= 500

    @property
    def no_effect(self):
        return not self.acked and not self.indeterminate

    @property
    def effect_deadline(self):
        """The latest moment at which the operation may have taken effect."""
        return self.end if self.acked or self.status == 404 else INF


def version_key(v):
    hlc, node = v.split(".", 1)
    return (int(hlc, 16), node)


def version_ms(v):
    """The wall-clock milliseconds in a version's hybrid logical clock stamp."""
    return int(v.split(".", 1)[0], 16) >> 16


def stamp_skew_ms(op, version):
    """How far `version`'s stamp lies outside [wall_start, wall_end] of `op` (0 if inside)."""
    if version is None or op.wall_start is None or op.wall_end is None:
        return 0
    ms = version_ms(version)
    lo, hi = op.wall_start * 1000.0, op.wall_end * 1000.0
    if ms < lo:
        return ms - lo
    if ms > hi:
        return ms - hi
    return 0


@dataclass
class UserVerdict:
    user: str
    final: Optional[dict]           # {"statusText","version"} or None (absent)
    explained_by: Optional[str]     # "put <text>", "delete", "initial", or None (phantom)
    lost: list = field(default_factory=list)   # the lost frontier ops
    notes: list = field(default_factory=list)


def _frontier(acked, eps):
    """Acked ops not superseded by another acked op that started after they ended."""
    if not acked:
        return []
    latest_start = max(o.start for o in acked)
    return [o for o in acked if not (latest_start > o.end + eps)]


def check_user(user, ops, final, eps=EPS):
    """`ops`: this user's PUT/DELETE ops. `final`: {"statusText","version"} or None."""
    acked = [o for o in ops if o.acked]
    v = UserVerdict(user, final, None)
    if final is not None:
        cands = [o for o in ops if o.kind == "put" and o.text == final["statusText"]
                 and not o.no_effect]
        if not cands:
            v.notes.append("final value was never written (or only by a refused request)")
            deadline = -INF
        else:
            c = cands[0]
            deadline = c.effect_deadline
            v.explained_by = "put " + c.text
            if c.acked and c.version and final.get("version") and c.version != final["version"]:
                v.notes.append(f"final version {final['version']} is not the acknowledged "
                               f"version {c.version} of that write (a second execution of it)")
    else:
        # A DELETE answered 404 may still have deleted: the gateway retries an attempt that got
        # no answer (a node killed after its commit) on another node, which then finds nothing.
        cands = [o for o in ops if o.kind == "delete" and (not o.no_effect or o.status == 404)]
        deadline = -INF
        v.explained_by = "initial"
        for c in cands:
            if c.effect_deadline > deadline:
                deadline = c.effect_deadline
                v.explained_by = "delete"
    v.lost = [o for o in _frontier(acked, eps) if o.start > deadline + eps]
    return v


def version_inversions(ops, eps=EPS):
    """Acked PUT pairs (a, b), b started after a was acknowledged, whose versions order b before
    a. Informational: such a b loses against a unless a later write covers it."""
    puts = sorted((o for o in ops if o.kind == "put" and o.acked and o.version),
                  key=lambda o: o.end)
    out = []
    best = None  # the acked put with the greatest version among those ended so far
    i = 0
    for b in sorted(puts, key=lambda o: o.start):
        while i < len(puts) and puts[i].end + eps < b.start:
            a = puts[i]
            if best is None or version_key(a.version) > version_key(best.version):
                best = a
            i += 1
        if best is not None and version_key(b.version) < version_key(best.version):
            out.append((best, b))
    return out


def check_reads(reads, writes_by_user):
    """Reads that returned a value no PUT for that user had started to write by the read's end.
    `reads`: (user, text, end) of reads that returned a status."""
    starts = {}
    for user, ops in writes_by_user.items():
        for o in ops:
            if o.kind == "put" and o.text is not None:
                starts[(user, o.text)] = o.start
    bad = []
    for user, text, end in reads:
        s = starts.get((user, text))
        if s is None or s > end:
            bad.append((user, text, end))
    return bad


def check(ops, final_state, eps=EPS):
    """`ops`: every PUT/DELETE Op. `final_state`: {user: {"statusText","version"}} of one node.
    Returns the per-user verdicts with losses, and a summary dict."""
    by_user = {}
    for o in ops:
        by_user.setdefault(o.user, []).append(o)
    verdicts = []
    for user in sorted(set(by_user) | set(final_state)):
        verdicts.append(check_user(user, by_user.get(user, []), final_state.get(user), eps))
    lost = [(v, o) for v in verdicts for o in v.lost]
    return verdicts, lost


def describe_lost(verdict, op, ops_by_user, clock_slack_ms=CLOCK_SLACK_MS):
    """A JSON-able account of one lost op, with the evidence a reader needs."""
    final = verdict.final
    d = {
        "user": verdict.user,
        "lost": {"kind": op.kind, "text": op.text, "version": op.version, "node": op.node,
                 "start": round(op.start, 4), "end": round(op.end, 4)},
        "final": final,
        "final_explained_by": verdict.explained_by,
        "notes": list(verdict.notes),
    }
    skewed = []
    if op.version:
        s = stamp_skew_ms(op, op.version)
        if abs(s) > clock_slack_ms:
            skewed.append(f"the lost write's stamp is {s:+.0f} ms off the real time of its request")
    if final is not None:
        src = next((o for o in ops_by_user.get(verdict.user, []) if o.kind == "put"
                    and o.text == final["statusText"]), None)
        if src is not None:
            d["final_op"] = {"text": src.text, "version": src.version, "node": src.node,
                             "status": src.status, "start": round(src.start, 4),
                             "end": round(src.end, 4)}
            same = src.acked and final.get("version") == src.version
            s = stamp_skew_ms(src, final.get("version")) if same else 0
            if abs(s) > clock_slack_ms:
                skewed.append(f"the final value's stamp is {s:+.0f} ms off the real time of its "
                              "request")
    d["clock_skewed"] = bool(skewed)
    d["notes"] += skewed
    return d
