#!/usr/bin/env python3
"""Draws benches/compare's chart: usage `chart.py summary.json chart.png`.

Top row, one panel per load workload: throughput (ops/s) of zk-server and Apache ZooKeeper.
Bottom row: latency percentiles p50, p99, p99.9 and max (µs, log scale). The ensemble loads
(eb, ee) are load workloads like the others. Workload (f) gets its own column: restart time,
resident memory, newest snapshot and dataDir size; the failover run a last one: seconds from
the kill to writes resuming, to a new leader, the longest write gap, and throughput. Bars are medians
over the rounds; the black whiskers span the lowest and highest round.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402,F401

COLOURS = {"ours": "#d95f02", "apache": "#7570b3"}
NAMES = {"ours": "zk-server", "apache": "Apache ZooKeeper 3.8"}
TITLES = {
    "a": "(a) 1 session, sync creates",
    "b": "(b) 32x8 setData 100 B",
    "c": "(c) 32x8 getData",
    "d": "(d) 90% get / 10% set",
    "e": "(e) 32x8 setData 1 KiB",
    "eb": "(b) on 3-server ensembles",
    "ee": "(e) on 3-server ensembles",
}
LOADS = ("a", "b", "c", "d", "e", "eb", "ee")
FAILOVER_TIMES = (("failover_s", "writes resume"), ("new_leader_s", "new leader"),
                  ("longest_gap_s", "longest gap"))
PERCENTILES = (("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9"), ("max_us", "max"))
F_PANELS = (("restart_s", "restart to serving, s"), ("rss_mib", "resident memory, MiB"),
            ("snapshot_mib", "newest snapshot, MiB"), ("data_dir_mib", "dataDir on disk, MiB"))


def bars(axis, labels, entry, keys, width=0.38):
    servers = [kind for kind in ("ours", "apache") if kind in entry]
    for position, kind in enumerate(servers):
        values, low, high = [], [], []
        for key in keys:
            value = entry[kind].get(key) or 0
            spread = entry[kind].get(key + "_range") or [value, value]
            values.append(value)
            low.append(max(value - spread[0], 0))
            high.append(max(spread[1] - value, 0))
        offsets = [i + (position - (len(servers) - 1) / 2) * width for i in range(len(keys))]
        axis.bar(offsets, values, width, color=COLOURS[kind], label=NAMES[kind],
                 yerr=[low, high], ecolor="black", capsize=2)
    axis.set_xticks(range(len(keys)))
    axis.set_xticklabels(labels)


def main():
    summary_path, chart_path = sys.argv[1], sys.argv[2]
    with open(summary_path) as source:
        summary = json.load(source)
    workloads = summary["workloads"]
    loads = [w for w in LOADS if w in workloads]
    has_f = "f" in workloads
    has_failover = "failover" in workloads
    columns = len(loads) + (2 if has_f else 0) + (1 if has_failover else 0)
    if columns == 0:
        sys.exit("nothing to draw")
    figure, axes = plt.subplots(2, columns, figsize=(3.6 * columns, 7.5), squeeze=False)
    for column, workload in enumerate(loads):
        entry = workloads[workload]
        top, bottom = axes[0][column], axes[1][column]
        bars(top, ["ops/s"], entry, ["ops_per_s"], width=0.6)
        top.set_title(TITLES[workload], fontsize=10)
        top.ticklabel_format(axis="y", style="plain")
        top.yaxis.set_major_formatter(
            matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:,.0f}"))
        bars(bottom, [label for _, label in PERCENTILES], entry, [key for key, _ in PERCENTILES])
        bottom.set_yscale("log")
        bottom.set_ylabel("latency, µs (log)" if column == 0 else "")
        if column == 0:
            top.set_ylabel("throughput, ops/s")
    if has_f:
        entry = workloads["f"]
        nodes = summary["settings"]["nodes"]
        for index, (key, label) in enumerate(F_PANELS):
            axis = axes[index % 2][len(loads) + index // 2]
            bars(axis, [""], entry, [key], width=0.6)
            axis.set_title(f"(f) {nodes:,} znodes: {label}", fontsize=9)
    if has_failover:
        entry = workloads["failover"]
        top, bottom = axes[0][columns - 1], axes[1][columns - 1]
        bars(top, [label for _, label in FAILOVER_TIMES], entry,
             [key for key, _ in FAILOVER_TIMES])
        top.set_title("failover: kill -9 the leader, s", fontsize=10)
        bars(bottom, ["ops/s"], entry, ["ops_per_s"], width=0.6)
        bottom.set_title("ops/s over the window, kill included", fontsize=9)
        ensemble = summary["settings"].get("ensemble") or {}
        if ensemble:
            top.set_xlabel(f"tickTime {ensemble['tick_time_ms']} ms, initLimit "
                           f"{ensemble['init_limit']}, syncLimit {ensemble['sync_limit']}",
                           fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    raw = summary.get("raw_fsync")
    settings = summary["settings"]
    subtitle = (f"medians of {settings['rounds']} round(s), {settings['duration_s']} s each; "
                f"{settings['cores']} cores shared by client and server")
    if raw:
        subtitle += f"; raw fdatasync p50 {raw['p50_us']:.0f} µs"
    figure.suptitle(f"zk-server vs Apache ZooKeeper 3.8 ({subtitle})", fontsize=11)
    figure.legend(handles, labels, loc="lower center", ncol=2)
    figure.tight_layout(rect=(0, 0.05, 1, 0.95))
    figure.savefig(chart_path, dpi=110)


if __name__ == "__main__":
    main()
