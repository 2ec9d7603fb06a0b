"""Turns the harness's measurements into benchmarks.md and two PNG plots."""
import os
import shutil
import statistics
import subprocess

BASELINE = "raw-epoll"


def median(vals):
    return statistics.median(vals) if vals else None


def cell(vals, fmt="{:,.0f}"):
    """median [min-max] of a metric's runs, or a dash when nothing was measured."""
    if not vals:
        return "—"
    m = fmt.format(median(vals))
    if len(vals) == 1:
        return m
    return "%s [%s–%s]" % (m, fmt.format(min(vals)), fmt.format(max(vals)))


def ratio(results, peer, metric, against=BASELINE):
    a = median(results.get(peer, {}).get(metric, []))
    b = median(results.get(against, {}).get(metric, []))
    if a is None or not b:
        return "—"
    return "%.2f×" % (a / b)


def paired(results, peer, metric, against=BASELINE):
    """The median of the two peers' ratio within each run."""
    runs = list(zip(results.get(peer, {}).get(metric, []), results.get(against, {}).get(metric, [])))
    if not runs or any(not b for _, b in runs):
        return "—"
    return "%.2f×" % median([a / b for a, b in runs])


def best_ours(results, peers, metric, lowest=False):
    """The backend of ours with the best median on a metric."""
    ours = [p for p in peers if p.startswith("ours-") and results[p].get(metric)]
    pick = min if lowest else max
    return pick(ours, key=lambda p: median(results[p][metric]), default=None)


def throughput_table(d):
    r, peers = d["results"], d["peers"]
    lines = ["| peer | 64 B msgs/s | vs raw | server CPU µs/msg | vs raw | 16 KiB msgs/s | 16 KiB MB/s | vs raw "
             "| server CPU µs/msg | vs raw |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p in peers:
        m = r[p]
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            p, cell(m.get("tp64_msgs")), ratio(r, p, "tp64_msgs"),
            cell(m.get("tp64_cpu_us"), "{:,.1f}"), ratio(r, p, "tp64_cpu_us"),
            cell(m.get("tp16384_msgs")), cell(m.get("tp16384_mbs"), "{:,.1f}"), ratio(r, p, "tp16384_msgs"),
            cell(m.get("tp16384_cpu_us"), "{:,.1f}"), ratio(r, p, "tp16384_cpu_us")))
    return lines


def idle_table(d):
    r, peers, levels = d["results"], d["peers"], d["cfg"]["idle_levels"]
    head = "| peer | " + " | ".join("p50 @%s" % f"{n:,}" for n in levels) + \
           " | p99 @%s | p50 @%s ÷ @%s |" % (f"{levels[-1]:,}", f"{levels[-1]:,}", f"{levels[0]:,}")
    lines = [head, "|---|" + "---:|" * (len(levels) + 2)]
    for p in peers:
        m = r[p]
        cells = [cell(m.get("idle%d_p50" % n), "{:,.1f}") for n in levels]
        lo, hi = median(m.get("idle%d_p50" % levels[0], [])), median(m.get("idle%d_p50" % levels[-1], []))
        flat = "%.2f×" % (hi / lo) if lo and hi else "—"
        lines.append("| %s | %s | %s | %s |" % (p, " | ".join(cells),
                                                 cell(m.get("idle%d_p99" % levels[-1]), "{:,.1f}"), flat))
    return lines


def memory_table(d):
    r, peers, levels = d["results"], d["peers"], d["cfg"]["idle_levels"]
    shown = [n for n in levels if n >= 1000] or levels
    head = "| peer | " + " | ".join("RSS B/conn @%s" % f"{n:,}" for n in shown) + \
           " | vs raw @%s | library state B/conn @%s | backend op contexts @%s |" % (
               f"{shown[-1]:,}", f"{shown[-1]:,}", f"{shown[-1]:,}")
    lines = [head, "|---|" + "---:|" * (len(shown) + 3)]
    for p in peers:
        m = r[p]
        cells = [cell(m.get("mem%d_bytes" % n)) for n in shown]
        ours = p.startswith("ours-")
        state = cell(m.get("mem%d_state" % shown[-1])) if ours else "n/a"
        ctx = cell(m.get("mem%d_ctx" % shown[-1])) if ours else "n/a"
        lines.append("| %s | %s | %s | %s | %s |" % (p, " | ".join(cells), ratio(r, p, "mem%d_bytes" % shown[-1]),
                                                     state, ctx))
    return lines


def accept_table(d):
    r, peers = d["results"], d["peers"]
    lines = ["| peer | accepts/s | vs raw | server CPU µs/conn | vs raw |", "|---|---:|---:|---:|---:|"]
    for p in peers:
        lines.append("| %s | %s | %s | %s | %s |" % (p, cell(r[p].get("accept_per_s")), ratio(r, p, "accept_per_s"),
                                                     cell(r[p].get("accept_cpu_us"), "{:,.1f}"),
                                                     ratio(r, p, "accept_cpu_us")))
    return lines


def summary(d):
    r, peers, levels = d["results"], d["peers"], d["cfg"]["idle_levels"]
    out = []
    for metric, label, lowest in (("tp64_msgs", "64 B throughput (msgs/s)", False),
                                  ("tp64_cpu_us", "64 B server CPU per message (lower is better)", True),
                                  ("tp16384_msgs", "16 KiB throughput (msgs/s)", False),
                                  ("tp16384_cpu_us", "16 KiB server CPU per message (lower is better)", True),
                                  ("accept_per_s", "accept rate", False),
                                  ("accept_cpu_us", "server CPU per accepted connection (lower is better)", True)):
        best = best_ours(r, peers, metric, lowest)
        if not best:
            continue
        others = ", ".join("%s %s (%s run by run)" % (ratio(r, best, metric, o), o, paired(r, best, metric, o))
                           for o in peers if not o.startswith("ours-") and r[o].get(metric))
        out.append("- %s: best of ours is **%s**: %s." % (label, best, others))
    for p in peers:
        if not p.startswith("ours-"):
            continue
        lo = median(r[p].get("idle%d_p50" % levels[0], []))
        hi = median(r[p].get("idle%d_p50" % levels[-1], []))
        mem = median(r[p].get("mem%d_bytes" % levels[-1], []))
        st = median(r[p].get("mem%d_state" % levels[-1], []))
        if lo and hi:
            out.append("- %s: idle-scale p50 %.1f µs at %s connections vs %.1f µs at %s (%.2f×); "
                       "%s B RSS and %s B library state per idle connection." % (
                           p, hi, f"{levels[-1]:,}", lo, f"{levels[0]:,}", hi / lo,
                           "%.0f" % mem if mem is not None else "?", "%.0f" % st if st is not None else "?"))
    return out


def mud_cases(d):
    """(label, backend, variant) rows of the MUD table, in a fixed order."""
    return [("%s, MCCP2 %s" % (b, "on" if v == "mccp" else "off"), b, v)
            for b in sorted(d.get("mud", {})) for v in ("plain", "mccp")]


def mud_table(d):
    mud, levels = d.get("mud", {}), d["cfg"].get("mud_users", [])
    if not mud:
        return ["(not measured in this run)"]
    head = "| backend | " + " | ".join("CPU µs/line @%s | p99 ms @%s" % (f"{n:,}", f"{n:,}") for n in levels) + \
           " | delivered |"
    lines = [head, "|---|" + "---:|---:|" * len(levels) + "---:|"]
    for label, b, v in mud_cases(d):
        m = mud[b]
        cells = []
        for n in levels:
            cells += [cell(m.get("mud%d_%s_cpu_us" % (n, v)), "{:,.2f}"),
                      cell(m.get("mud%d_%s_p99_ms" % (n, v)), "{:,.1f}")]
        worst = min((median(m.get("mud%d_%s_delivered_pct" % (n, v), [])) or 0) for n in levels)
        lines.append("| %s | %s | %.1f%% |" % (label, " | ".join(cells), worst))
    lines += ["", "What MCCP2 costs (server CPU per delivered line, on ÷ off, same backend and run set):", ""]
    for b in sorted(mud):
        parts = []
        for n in levels:
            on = median(mud[b].get("mud%d_mccp_cpu_us" % n, []))
            off = median(mud[b].get("mud%d_plain_cpu_us" % n, []))
            if on and off:
                parts.append("%.2f× at %s users" % (on / off, f"{n:,}"))
        lines.append("- %s: %s." % (b, ", ".join(parts) or "—"))
    if len(mud) > 1:
        lines += ["", "io_uring ÷ epoll, server CPU per delivered line:", ""]
        for v in ("plain", "mccp"):
            parts = []
            for n in levels:
                a = median(mud.get("io_uring", {}).get("mud%d_%s_cpu_us" % (n, v), []))
                e = median(mud.get("epoll", {}).get("mud%d_%s_cpu_us" % (n, v), []))
                if a and e:
                    parts.append("%.2f× at %s users" % (a / e, f"{n:,}"))
            lines.append("- MCCP2 %s: %s." % ("on" if v == "mccp" else "off", ", ".join(parts) or "—"))
    return lines


def raw_runs(d):
    lines = ["<details><summary>Every run (raw values)</summary>", "", "```"]
    for b, metrics in sorted(d.get("mud", {}).items()):
        for metric in sorted(metrics):
            lines.append("mud-%-10s %-26s %s" % (b, metric, ", ".join("%.2f" % v for v in metrics[metric])))
    for p in d["peers"]:
        for metric in sorted(d["results"][p]):
            vals = ", ".join("%.1f" % v for v in d["results"][p][metric])
            lines.append("%-14s %-16s %s" % (p, metric, vals))
    lines += ["```", "", "</details>"]
    return lines


def plot(out, d):
    if not shutil.which("gnuplot"):
        return []
    r, peers, levels = d["results"], d["peers"], d["cfg"]["idle_levels"]
    made = []
    if not any(r[p].get("tp64_msgs") or r[p].get("idle%d_p50" % levels[0]) for p in peers):
        return plot_mud(out, d)  # a run of other workloads only
    idle_dat = os.path.join(out, "idle.dat")
    with open(idle_dat, "w") as f:
        for p in peers:
            f.write('"%s"\n' % p)
            for n in levels:
                v = median(r[p].get("idle%d_p50" % n, []))
                if v is not None:
                    f.write("%d %.2f\n" % (n, v))
            f.write("\n\n")
    tp_dat = os.path.join(out, "throughput.dat")
    with open(tp_dat, "w") as f:
        for p in peers:
            a = median(r[p].get("tp64_msgs", [])) or 0
            b = median(r[p].get("tp16384_msgs", [])) or 0
            f.write('"%s" %.1f %.1f\n' % (p, a / 1000.0, b / 1000.0))
    script = """
set terminal pngcairo size 900,520 font "sans,10" noenhanced
set output '{out}/bench_idle.png'
set title 'Idle scale: round-trip p50 of one active client (64 B) beside N idle connections'
set logscale xy
set xrange [{xmin}:{xmax}]
set xlabel 'idle connections'
set ylabel 'p50 round trip (µs, log scale)'
set key outside right
set grid
plot for [i=0:{last}] '{idle}' index i using 1:2 with linespoints lw 2 title columnheader(1)
unset logscale xy
set xrange [*:*]
set output '{out}/bench_throughput.png'
set title 'Throughput: {conns} connections ping-ponging (thousand messages/s, median)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel 'thousand messages/s'
set xlabel ''
set xtics rotate by -30
set yrange [0:*]
plot '{tp}' using 2:xtic(1) title '64 B', '' using 3 title '16 KiB'
""".format(out=out, idle=idle_dat, tp=tp_dat, last=len(peers) - 1, xmin=levels[0] / 2, xmax=levels[-1] * 2,
               conns=f"{d['cfg']['tp_conns']:,}")
    res = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if res.returncode == 0:
        made = ["bench_throughput.png", "bench_idle.png"]
    else:
        d["failures"].append("gnuplot: " + res.stderr.strip()[-300:])
    os.remove(idle_dat)
    os.remove(tp_dat)
    return made + plot_mud(out, d)


def plot_mud(out, d):
    mud, levels = d.get("mud", {}), d["cfg"].get("mud_users", [])
    if not mud or not levels:
        return []
    dat = os.path.join(out, "mud.dat")
    with open(dat, "w") as f:
        for label, b, v in mud_cases(d):
            f.write('"%s"\n' % label)
            for n in levels:
                c = median(mud[b].get("mud%d_%s_cpu_us" % (n, v), []))
                if c is not None:
                    f.write("%d %.3f\n" % (n, c))
            f.write("\n\n")
    script = """
set terminal pngcairo size 900,520 font "sans,10" noenhanced
set output '{out}/bench_mud.png'
set title 'ior-mud: server CPU per delivered line, N users in one room (median)'
set logscale x
set xrange [{xmin}:{xmax}]
set yrange [0:*]
set xlabel 'logged-in users'
set ylabel 'server CPU µs per delivered line'
set key outside right
set grid
plot for [i=0:{last}] '{dat}' index i using 1:2 with linespoints lw 2 title columnheader(1)
""".format(out=out, dat=dat, last=len(mud_cases(d)) - 1, xmin=levels[0] / 2, xmax=levels[-1] * 2)
    res = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    os.remove(dat)
    if res.returncode != 0:
        d["failures"].append("gnuplot (mud): " + res.stderr.strip()[-300:])
        return []
    return ["bench_mud.png"]


def write(out, d):
    cfg, f = d["cfg"], d["facts"]
    os.makedirs(out, exist_ok=True)
    pngs = plot(out, d)
    noisy = d.get("noisy") or []
    md = ["# Benchmarks", ""]
    if noisy:
        md += ["> **NOISY: measured on a busy machine (%s). The ratios are indicative only; "
               "rerun `%s` on a quiet machine.**" % ("; ".join(noisy), d["command"].replace(" --allow-noisy", "")), ""]
    md += [
          "Generated by `bench/run` on %s%s; the run took %.0f s." % (
              d["date"], " (**smoke mode: tiny counts, not results**)" if d["smoke"] else "", d["elapsed"]),
          "", "Reproduce with exactly:", "", "```", d["command"], "```", "",
          "That command builds everything (CMake, `-DIOR_BENCH=ON`, Release, in `build-bench/`), runs every "
          "peer on every workload %d times and rewrites this file and its plots. `bench/run --smoke` is the "
          "seconds-long version CI runs (it writes to a temp dir)." % cfg["runs"], "",
          "## Machine", "",
          "- nproc: %s; kernel: %s; CPU: %s" % (f["nproc"], f["kernel"], f["cpu"]),
          "- OS: %s; compiler: %s" % (f["os"], f["compiler"]),
          "- libuv %s, libevent %s, asio %s (standalone), liburing %s" % (
              f["libuv"], f["libevent"], f["asio"], f["liburing"]),
          "- load average (1/5/15 min): %s. Anything else running competes with the server and the "
          "load generator for the CPUs; the [min–max] spread shows how much that moved the runs." % f.get("load", "?"),
          "- server pinned to CPU 0, load generator(s) to CPU 1 (`taskset`); loopback TCP; `ulimit -n` 20000", "",
          "## Peers", "",
          "Each peer is a small echo server in `bench/servers/` (`--port 0`, port printed on line 1):", "",
          "- `ours-<backend>`: `echo_ours.cpp`, ioreactor's public C API on that backend: "
          "`io_reactor_add_listener` accepts, `EVENT_READ` carries the bytes, `io_reactor_post_write` echoes.",
          "- `raw-epoll`: `echo_raw_epoll.cpp`, a hand-written level-triggered epoll loop, no library "
          "(the baseline every ratio is against).",
          "- `libuv`: `echo_libuv.cpp`, `uv_read_start` as in libuv's guide, with one reused read buffer and "
          "`uv_try_write` (a copy is queued with `uv_write` only for what the socket refuses).",
          "- `libevent`: `echo_libevent.cpp`, an `evconnlistener` and a socket bufferevent per client, "
          "input buffer moved to output.",
          "- `asio`: `echo_asio.cpp`, standalone asio in the shape of its async echo example "
          "(shared_ptr session, 16 KiB per-session buffer).", "",
          "Every server sets `TCP_NODELAY` on accepted sockets and listens with backlog 4096. The load "
          "generator `bench/loadgen.cpp` is one program on raw syscalls (epoll), the same for every peer.", "",
          "## Workloads", "",
          "1. **Throughput**: %s connections, each sends a message and waits for the whole echo before the "
          "next; 64 B and 16 KiB messages; %.1f s warm-up then %.1f s measured. MB/s counts echoed bytes." % (
              f"{cfg['tp_conns']:,}", cfg["tp_warmup"], cfg["tp_duration"]),
          "2. **Idle scale**: %s idle connections (each proven served by one 1-byte echo, held by 2+ "
          "processes) plus one active 64 B ping-pong client measured for %.1f s: round-trip p50/p99 in µs. "
          "The goal is a flat line." % (", ".join(f"{n:,}" for n in cfg["idle_levels"]), cfg["lat_duration"]),
          "3. **Memory per idle connection**: (server VmRSS with N idle connections − VmRSS before any) ÷ N, "
          "measured in workload 2. For ours also `io_reactor_get_stats().state_bytes ÷ N`, the library's own "
          "per-handle accounting, and `contexts_live` (operation contexts the backend holds, e.g. io_uring "
          "requests in flight). Kernel socket buffers are not in RSS.",
          "4. **Accept rate**: %s short connections (connect, 1-byte echo, close), %d in flight; "
          "connections per second." % (f"{cfg['accept_count']:,}", cfg["accept_concurrency"]),
          "5. **MUD** (`bench/mud.py`, `bench/mudload.cpp`): `ior-mud` itself on each backend, %s users "
          "logged in to its one room (split over processes of at most 9,500, each from its own 127.0.0.x); "
          "up to 3 of them say a line every 100 ms (1 speaker at 10,000 users: the offered fan-out stays "
          "at or under 100,000 lines/s) for %.1f s, and every line goes to everyone else. Measured: the "
          "server's CPU time from the start signal to the end of a 1 s drain ÷ lines delivered "
          "(CPU µs/line), and the delivery latency from the say's send to the line's arrival at another "
          "user (p99, 16 buckets per doubling, so ±4%%), with MCCP2 off (the client refuses it) and on "
          "(every user has its own zlib stream). “delivered” is the worst case's share of the lines owed "
          "(said × (N − 1)) that arrived. A room of more than 100 is a crowd: the talker announces no "
          "arrivals there (otherwise 10,000 logins are 50 million notices)." % (
              ", ".join(f"{n:,}" for n in cfg.get("mud_users", [])), cfg.get("mud_duration", 0)), "",
          "Cells are the median of %d run(s) with [min–max]; “vs raw” is the ratio of medians to raw-epoll "
          "(higher is better for rates, lower for memory and CPU); “run by run” in the summary is the median "
          "of the two peers' ratio within each run. Within a run each workload runs on every peer back to "
          "back, and each run starts one peer later than the one before, so every peer takes its turn early "
          "and late in the sequence. "
          "**Server CPU µs/msg** (and µs/conn) is the server's CPU time (`/proc/PID/schedstat`) over "
          "the whole load run (connection setup and warm-up included) divided by every message (connection) "
          "completed: unlike a rate it barely moves when other work on the machine takes CPU time away." % cfg["runs"], "",
          "## Summary", ""] + summary(d) + ["",
          "## 1. Throughput (%s connections)" % f"{cfg['tp_conns']:,}", ""] + throughput_table(d) + ["",
          "## 2. Idle scale: round trip of one active client (µs)", ""] + idle_table(d) + ["",
          "## 3. Memory per idle connection (bytes)", ""] + memory_table(d) + ["",
          "## 4. Accept rate (%s short connections)" % f"{cfg['accept_count']:,}", ""] + accept_table(d) + [
          "", "## 5. MUD: ior-mud, N users in one room", ""] + mud_table(d) + [""]
    for png in pngs:
        md += ["![%s](%s)" % (png[:-4], png), ""]
    if d["failures"]:
        md += ["## Failures", ""] + ["- " + x for x in d["failures"]] + [""]
    md += raw_runs(d) + [""]
    with open(os.path.join(out, "benchmarks.md"), "w") as fh:
        fh.write("\n".join(md))


if __name__ == "__main__":
    import json
    import sys
    with open(sys.argv[1]) as fh:
        write(sys.argv[2], json.load(fh))
