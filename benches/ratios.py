#!/usr/bin/env python3
"""Turns criterion's output of `cargo bench --bench throughput` (and of the
`fanout`, `select`, `acks`, `async` and `batch` benches, which write to the same
criterion directory) into markdown tables of median ns per message and ratios against
the peers.

Usage: python3 benches/ratios.py [CRITERION_DIR ...]
The directory defaults to $CARGO_TARGET_DIR/criterion, else target/criterion.
Given copies of several runs' criterion directories, it prints the median over
the runs: of ns per message, and of each run's own ratio (peers are compared
within a run, then the runs are summarised), with the spread as min-max.

Targets checked (see DESIGN.md and the benches' docs):
  - postbox FIFO <= 1.5x crossbeam on every buffered shape (cap1024, unbounded);
  - postbox Priority (one level and mixed) <= 2.5x crossbeam on every
    buffered shape (issue 13);
  - rendezvous under crowding (`mpmc4x4_cap0`, `mpsc8_cap0`): FIFO and
    Priority <= 2x crossbeam (issue 13);
  - bounded(1) ping-pong: postbox FIFO <= 1.25x crossbeam;
  - postbox Priority faster than the Mutex<BinaryHeap> baseline everywhere;
  - acknowledgements (issue 4): FIFO recv_ack + ack <= 2x plain recv on the
    same backend (`ack_overhead_*` groups);
  - async (issue 11): postbox FIFO <= 1.5x tokio::sync::mpsc on every
    `async_*` group (spsc, mpsc4 at cap1024 and unbounded; bounded(1)
    ping-pong); the priority backend, flume and async-channel are reported
    against tokio too;
  - batch receive (issue 13, `cargo bench --bench batch`): draining 64 at
    a time, postbox_fifo / crossbeam <= 1.2 (`batch_drain64`); the
    send+drain loop and the threaded `batch_spsc` are reported, as are the
    one-message paths (`*_single`) the batches replace.
`crossbeam_message` (crossbeam carrying postbox::Message<u64>) splits the FIFO
gap into "bigger slot" (crossbeam_message / crossbeam) and "mailbox layer"
(fifo / crossbeam_message).
"""

import json
import os
import statistics
import sys
from pathlib import Path

SHAPES = ["seq", "spsc", "mpsc2", "mpsc4", "mpmc2x2", "mpsc8", "mpmc4x4"]
CAPS = ["cap0", "cap1", "cap1024", "unbounded"]
BUFFERED = {"cap1024", "unbounded"}
# Rendezvous shapes with a target of their own (issue 13: <= 2x crossbeam).
CROWDED = {"mpmc4x4", "mpsc8"}
PEERS = [
    "crossbeam",
    "crossbeam_message",
    "std",
    "flume",
    "postbox_fifo",
    "postbox_prio",
    "postbox_prio_mixed",
    "heap",
    "heap_mixed",
]


def load(root):
    """{(group, function): (median ns/elem, lower, upper)} for every benchmark."""
    out = {}
    for bench in root.glob("*/*/new/benchmark.json"):
        meta = json.loads(bench.read_text())
        est = json.loads((bench.parent / "estimates.json").read_text())
        elems = (meta.get("throughput") or {}).get("Elements", 1)
        med = est["median"]
        ci = med["confidence_interval"]
        out[(meta["group_id"], meta["function_id"])] = (
            med["point_estimate"] / elems,
            ci["lower_bound"] / elems,
            ci["upper_bound"] / elems,
        )
    return out


def ns(v):
    if v is None:
        return "-"
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def ratio(a, b):
    if a is None or b is None:
        return None
    return a / b


def fmt_ratio(r, limit=None, below=False):
    """A ratio, marked MISS when it breaks `limit` (or is not below it)."""
    if r is None:
        return "-"
    text = f"{r:.2f}"
    if limit is not None:
        bad = r >= limit if below else r > limit
        text += " MISS" if bad else " ok"
    return text


def combine(runs):
    """{key: [value per run]} from several runs' {key: value}."""
    out = {}
    for run in runs:
        for key, val in run.items():
            out.setdefault(key, []).append(val[0])
    return out


def fmt_runs(values, limit=None, below=False):
    """The median of per-run values, its spread, and the target verdict."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    text = fmt_ratio(statistics.median(values), limit, below)
    if len(values) > 1:
        text += f" ({min(values):.2f}-{max(values):.2f})"
    return text


def main():
    roots = [Path(a) for a in sys.argv[1:]]
    if not roots:
        roots = [Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "criterion"]
    runs = [load(root) for root in roots]
    if not any(runs):
        sys.exit(f"no criterion results under {roots}")
    data = combine(runs)
    groups = {g for g, _ in data}

    def get(group, fn):
        vals = data.get((group, fn))
        return statistics.median(vals) if vals else None

    def per_run(group, num, den):
        """Each run's own ratio num / den for one group."""
        out = []
        for run in runs:
            a, b = run.get((group, num)), run.get((group, den))
            if a and b:
                out.append(a[0] / b[0])
        return out

    print(f"{len(runs)} run(s): median over runs; ratios are per-run ratios, median (min-max)\n")
    if any(f"{shape}_{cap}" in groups for shape in SHAPES for cap in CAPS):
        shape_tables(groups, get, per_run)
    extra_tables(data, groups, get, per_run)
    async_tables(groups, get, per_run)
    batch_tables(groups, get, per_run)


def shape_tables(groups, get, per_run):
    """The shape groups: ns per message, then the ratios against the peers."""
    print("### Shapes: median ns per message\n")
    print("| group | " + " | ".join(PEERS) + " |")
    print("| --- |" + " ---: |" * len(PEERS))
    for cap in CAPS:
        for shape in SHAPES:
            group = f"{shape}_{cap}"
            if group not in groups:
                continue
            cells = [ns(get(group, p)) for p in PEERS]
            print(f"| {group} | " + " | ".join(cells) + " |")

    print("\n### Shapes: ratios (target checked where one applies)\n")

    def buffered(limit):
        return lambda cap, shape: limit if cap in BUFFERED else None

    def buffered_or_crowded_rendezvous(limit, rendezvous_limit):
        def pick(cap, shape):
            if cap in BUFFERED:
                return limit
            if cap == "cap0" and shape in CROWDED:
                return rendezvous_limit
            return None

        return pick

    def always(limit):
        return lambda cap, shape: limit

    cols = [
        ("fifo / crossbeam (<=1.5 buffered, <=2 crowded cap0)", "postbox_fifo", "crossbeam",
         buffered_or_crowded_rendezvous(1.5, 2.0), False),
        ("prio / crossbeam (<=2.5 buffered, <=2 crowded cap0)", "postbox_prio", "crossbeam",
         buffered_or_crowded_rendezvous(2.5, 2.0), False),
        ("prio / heap (<1)", "postbox_prio", "heap", always(1.0), True),
        ("prio_mixed / crossbeam (<=2.5)", "postbox_prio_mixed", "crossbeam", buffered(2.5), False),
        ("prio_mixed / heap_mixed (<1)", "postbox_prio_mixed", "heap_mixed", always(1.0), True),
        ("fifo / crossbeam_message", "postbox_fifo", "crossbeam_message", always(None), False),
        ("crossbeam_message / crossbeam", "crossbeam_message", "crossbeam", always(None), False),
        ("fifo / flume", "postbox_fifo", "flume", always(None), False),
    ]
    print("| group | " + " | ".join(c[0] for c in cols) + " |")
    print("| --- |" + " ---: |" * len(cols))
    for cap in CAPS:
        for shape in SHAPES:
            group = f"{shape}_{cap}"
            if group not in groups:
                continue
            cells = []
            for _, num, den, limit_of, below in cols:
                cells.append(fmt_runs(per_run(group, num, den), limit_of(cap, shape), below))
            print(f"| {group} | " + " | ".join(cells) + " |")


def extra_tables(data, groups, get, per_run):
    """Every group other than the shapes, one table each."""
    extras = [
        ("pingpong_bounded1", "ns per round trip", "crossbeam"),
        ("send_overhead", "ns per send + recv, one thread", None),
        ("id_contention", "ns per message, 4 producers, unbounded", "crossbeam_cloned"),
        ("select2_cap0", "ns per message, 1 consumer selecting over 2 channels", "crossbeam"),
        ("select2_cap1024", "ns per message, 1 consumer selecting over 2 channels", "crossbeam"),
        ("select2_unbounded", "ns per message, 1 consumer selecting over 2 channels", "crossbeam"),
        ("topic_fanout", "ns per delivered copy, one thread", None),
    ]
    for group, unit, base in extras:
        fns = sorted({fn for g, fn in data if g == group})
        if not fns:
            continue
        print(f"\n### {group} ({unit})\n")
        print("| benchmark | median ns | ratio (min-max over runs) |")
        print("| --- | ---: | ---: |")
        for fn in fns:
            if group == "send_overhead":
                base_fn = f"crossbeam_{fn.rsplit('_', 1)[-1]}"
            elif group == "topic_fanout":
                # Each subscriber count against crossbeam with as many channels.
                base_fn = f"crossbeam_{fn.rsplit('_', 1)[-1]}"
            else:
                base_fn = base
            limit = 1.25 if (group == "pingpong_bounded1" and fn == "postbox_fifo") else None
            cell = fmt_runs(per_run(group, fn, base_fn), limit) + f" / {base_fn}"
            if group == "pingpong_bounded1" and fn == "postbox_prio":
                cell += "; " + fmt_runs(per_run(group, fn, "heap"), 1.0, True) + " / heap"
            print(f"| {fn} | {ns(get(group, fn))} | {cell} |")

    ack_groups = [
        f"ack_overhead_{shape}_{cap}"
        for cap in ("cap1024", "unbounded")
        for shape in ("seq", "spsc")
        if f"ack_overhead_{shape}_{cap}" in groups
    ]
    if ack_groups:
        ack_fns = ["crossbeam", "fifo_recv", "fifo_recv_ack", "prio_recv", "prio_recv_ack"]
        print("\n### ack_overhead: median ns per message (recv_ack = recv_ack + ack)\n")
        print("| group | " + " | ".join(ack_fns) + " |")
        print("| --- |" + " ---: |" * len(ack_fns))
        for group in ack_groups:
            print(f"| {group} | " + " | ".join(ns(get(group, f)) for f in ack_fns) + " |")
        cols = [
            ("fifo recv_ack / fifo recv (<=2)", "fifo_recv_ack", "fifo_recv", 2.0),
            ("fifo recv_ack / crossbeam", "fifo_recv_ack", "crossbeam", None),
            ("fifo recv / crossbeam", "fifo_recv", "crossbeam", None),
            ("prio recv_ack / prio recv", "prio_recv_ack", "prio_recv", None),
            ("prio recv_ack / crossbeam", "prio_recv_ack", "crossbeam", None),
        ]
        print("\n### ack_overhead: ratios, median (min-max over runs)\n")
        print("| group | " + " | ".join(c[0] for c in cols) + " |")
        print("| --- |" + " ---: |" * len(cols))
        for group in ack_groups:
            cells = [fmt_runs(per_run(group, num, den), limit) for _, num, den, limit in cols]
            print(f"| {group} | " + " | ".join(cells) + " |")

    job_fns = sorted({fn for g, fn in data if g == "job_loop"})
    if job_fns:
        print("\n### job_loop (2 producers, 2 workers, bounded 1024; per job)\n")
        print("| benchmark | median ns/job | Mjobs/s | / crossbeam | / postbox_recv |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for fn in job_fns:
            t = get("job_loop", fn)
            rate = f"{1e3 / t:.1f}" if t else "-"
            cells = [
                fmt_runs(per_run("job_loop", fn, "crossbeam")),
                fmt_runs(per_run("job_loop", fn, "postbox_recv")),
            ]
            print(f"| {fn} | {ns(t)} | {rate} | " + " | ".join(cells) + " |")


ASYNC_GROUPS = [
    "async_spsc_cap1024",
    "async_mpsc4_cap1024",
    "async_spsc_unbounded",
    "async_mpsc4_unbounded",
    "async_pingpong_bounded1",
]
ASYNC_PEERS = [
    "tokio",
    "flume",
    "async_channel",
    "postbox_fifo",
    "postbox_prio",
    "postbox_prio_mixed",
    "postbox_fifo_spin",
]


def async_tables(groups, get, per_run):
    """The `async` bench: ns per message (per round trip for ping-pong), then
    every peer against tokio's mpsc, FIFO checked against 1.5x."""
    present = [g for g in ASYNC_GROUPS if g in groups]
    if not present:
        return
    print("\n### async (tokio multi-thread, 2 workers): median ns per message / round trip\n")
    print("| group | " + " | ".join(ASYNC_PEERS) + " |")
    print("| --- |" + " ---: |" * len(ASYNC_PEERS))
    for group in present:
        print(f"| {group} | " + " | ".join(ns(get(group, p)) for p in ASYNC_PEERS) + " |")
    cols = [
        ("fifo / tokio (<=1.5)", "postbox_fifo", 1.5),
        ("prio / tokio", "postbox_prio", None),
        ("prio_mixed / tokio", "postbox_prio_mixed", None),
        ("flume / tokio", "flume", None),
        ("async_channel / tokio", "async_channel", None),
        ("fifo_spin / tokio", "postbox_fifo_spin", None),
    ]
    print("\n### async: ratios against tokio::sync::mpsc, median (min-max over runs)\n")
    print("| group | " + " | ".join(c[0] for c in cols) + " |")
    print("| --- |" + " ---: |" * len(cols))
    for group in present:
        cells = [fmt_runs(per_run(group, num, "tokio"), limit) for _, num, limit in cols]
        print(f"| {group} | " + " | ".join(cells) + " |")


BATCH_GROUPS = ["batch_drain64", "batch_send_drain64", "batch_spsc"]
BATCH_PEERS = [
    "crossbeam",
    "crossbeam_message",
    "flume",
    "postbox_fifo",
    "postbox_prio",
    "postbox_fifo_single",
    "postbox_prio_single",
]


def batch_tables(groups, get, per_run):
    """The `batch` bench: ns per message, then every peer against
    crossbeam (FIFO checked against 1.2 on `batch_drain64`) and each
    batch against the one-message path it replaces."""
    present = [g for g in BATCH_GROUPS if g in groups]
    if not present:
        return
    print("\n### batch (64 at a time, bounded 1024): median ns per message\n")
    print("| group | " + " | ".join(BATCH_PEERS) + " |")
    print("| --- |" + " ---: |" * len(BATCH_PEERS))
    for group in present:
        print(f"| {group} | " + " | ".join(ns(get(group, p)) for p in BATCH_PEERS) + " |")
    cols = [
        ("fifo / crossbeam (<=1.2 on batch_drain64)", "postbox_fifo", "crossbeam", 1.2),
        ("fifo / crossbeam_message", "postbox_fifo", "crossbeam_message", None),
        ("crossbeam_message / crossbeam", "crossbeam_message", "crossbeam", None),
        ("prio / crossbeam", "postbox_prio", "crossbeam", None),
        ("flume / crossbeam", "flume", "crossbeam", None),
        ("fifo / fifo_single", "postbox_fifo", "postbox_fifo_single", None),
        ("prio / prio_single", "postbox_prio", "postbox_prio_single", None),
    ]
    print("\n### batch: ratios, median (min-max over runs)\n")
    print("| group | " + " | ".join(c[0] for c in cols) + " |")
    print("| --- |" + " ---: |" * len(cols))
    for group in present:
        cells = []
        for _, num, den, limit in cols:
            if group != "batch_drain64":
                limit = None
            cells.append(fmt_runs(per_run(group, num, den), limit))
        print(f"| {group} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
