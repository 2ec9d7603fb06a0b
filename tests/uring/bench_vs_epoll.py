#!/usr/bin/env python3
# io_uring vs epoll, 1,000-connection loopback echo (bench/loadgen pingpong
# against bench/servers/echo_ours), server pinned to CPU 0, load to CPU 1,
# backends interleaved per run; median of N runs. Reports msgs/s and the
# server's CPU time per message (schedstat), which a busy machine disturbs less.
# Needs a build with -DIOR_BENCH=ON (bench/ from the benchmarks branch):
#   cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DIOR_BENCH=ON -DIOR_TESTS=OFF
#   cmake --build build-bench --target echo_ours loadgen
#   python3 tests/uring/bench_vs_epoll.py build-bench 5
import json, statistics, subprocess, sys, select, time
build = sys.argv[1]; runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
sizes = [64, 16384]; warm, dur = 0.5, 3.0
def cpu(pid):
    with open(f"/proc/{pid}/schedstat") as f: return int(f.read().split()[0]) / 1e9
res = {}
for size in sizes:
    for run in range(runs):
        for backend in ["io_uring", "epoll"]:
            srv = subprocess.Popen(["taskset", "-c", "0", f"{build}/bench/echo_ours", "--port", "0", "--backend", backend],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            try:
                if not select.select([srv.stdout], [], [], 10)[0]: raise SystemExit("server silent")
                port = srv.stdout.readline().decode().strip()
                lg = subprocess.Popen(["taskset", "-c", "1", f"{build}/bench/loadgen", "pingpong", "--port", port,
                                       "--conns", "1000", "--size", str(size), "--warmup", str(warm), "--duration", str(dur)],
                                      stdout=subprocess.PIPE, text=True)
                time.sleep(warm + 0.3); c0 = cpu(srv.pid); t0 = time.monotonic()
                out, _ = lg.communicate(timeout=90)
                c1 = cpu(srv.pid); t1 = time.monotonic()
                r = json.loads(out.strip().splitlines()[-1])
                rate = r["msgs_per_s"]
                cpu_per_msg = (c1 - c0) / (rate * (t1 - t0)) * 1e6 if rate else float("nan")
                res.setdefault((size, backend), []).append((rate, cpu_per_msg))
            finally:
                srv.terminate(); srv.wait(timeout=10)
for size in sizes:
    med = {b: (statistics.median(x[0] for x in res[(size, b)]), statistics.median(x[1] for x in res[(size, b)]))
           for b in ["io_uring", "epoll"]}
    (ur, uc), (er, ec) = med["io_uring"], med["epoll"]
    print(f"size {size:5d}: msgs/s io_uring {ur:8.0f} epoll {er:8.0f} ratio {ur/er:.2f} | "
          f"server CPU us/msg io_uring {uc:6.2f} epoll {ec:6.2f} ratio {uc/ec:.2f}")
    for b in ["io_uring", "epoll"]:
        print(f"   {b:8s} runs msgs/s {[round(x[0]) for x in res[(size,b)]]} us/msg {[round(x[1],2) for x in res[(size,b)]]}")
