#!/usr/bin/env python3
"""The market-data reads against a running brokerd (not a test; see BENCHMARKS.md).

usage: scripts/reads_bench.py PORT [REQUESTS] [THREADS]

Feeds the broker first (without an admin token): a 50-code strategy, ticks of 5,000 codes (1,250 of
them on the sh board), 500 news items. Then, for each read, REQUESTS requests one after the other
on one keep-alive connection (client-side latency p50/p99), and REQUESTS requests from THREADS
threads at once (requests/s); and from the broker's /metrics the server-side mean time of its
answers (brokerd_http_request_duration_seconds: from the request to the end of the answer's body).
Prints one JSON line per read. The client is Python: its own cost is in every client-side figure.
"""
import http.client, json, sys, threading, time

port = int(sys.argv[1])
requests = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 4

def call(conn, method, path, body=None):
    conn.request(method, path, body, {"Content-Type": "application/json"} if body else {})
    response = conn.getresponse()
    data = response.read()
    if response.status >= 300:
        raise SystemExit(f"{method} {path}: {response.status} {data[:200]!r}")
    return data

def feed():
    conn = http.client.HTTPConnection("127.0.0.1", port)
    signals = [{"code": "6%05d" % i, "name": "S%d" % i} for i in range(50)]
    call(conn, "PUT", "/api/signals/bench", json.dumps({"signals": signals}))
    codes = ["6%05d" % i for i in range(1250)] + ["0%05d" % i for i in range(2500)] + ["3%05d" % i for i in range(1250)]
    for start in range(0, len(codes), 500):
        ticks = [{"code": c, "name": c, "price": 10.5, "volume": 100, "prev_close": 10} for c in codes[start:start + 500]]
        call(conn, "POST", "/api/ticks", json.dumps({"ticks": ticks}))
    for i in range(500):
        item = {"title": "item %d" % i, "category": "company" if i % 2 else "macro", "codes": ["6%05d" % (i % 50)]}
        call(conn, "POST", "/api/news", json.dumps(item))

READS = [
    ("/api/prices", "/api/prices?codes=" + ",".join("6%05d" % i for i in range(10))),
    ("/api/prices", "/api/prices?strategy=bench"),
    ("/api/prices", "/api/prices?market=sh"),
    ("/api/klines", "/api/klines?code=600001"),
    ("/api/news", "/api/news?limit=50"),
    ("/api/signals/buy", "/api/signals/buy?strategy=bench"),
]

def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]

def sequential(path):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    latencies = []
    for _ in range(requests):
        t0 = time.perf_counter()
        call(conn, "GET", path)
        latencies.append(time.perf_counter() - t0)
    return latencies

def concurrent(path):
    per_thread = requests // threads
    def run():
        conn = http.client.HTTPConnection("127.0.0.1", port)
        for _ in range(per_thread):
            call(conn, "GET", path)
    workers = [threading.Thread(target=run) for _ in range(threads)]
    t0 = time.perf_counter()
    for w in workers: w.start()
    for w in workers: w.join()
    return per_thread * threads / (time.perf_counter() - t0)

def server_totals():
    """Server-side (seconds, requests) so far per route of 200 answers to GET, from the histogram."""
    text = call(http.client.HTTPConnection("127.0.0.1", port), "GET", "/metrics").decode()
    totals = {}
    for line in text.splitlines():
        if not line.startswith("brokerd_http_request_duration_seconds_") or 'status="200"' not in line or 'method="GET"' not in line:
            continue
        name, value = line.rsplit(" ", 1)
        route = name.split('route="', 1)[1].split('"', 1)[0]
        seconds, count = totals.get(route, (0.0, 0.0))
        if name.startswith("brokerd_http_request_duration_seconds_sum"): seconds = float(value)
        if name.startswith("brokerd_http_request_duration_seconds_count"): count = float(value)
        totals[route] = (seconds, count)
    return totals

feed()
for route, path in READS:
    before = server_totals().get(route, (0.0, 0.0))
    latencies = sequential(path)
    rate = concurrent(path)
    after = server_totals().get(route, (0.0, 0.0))
    size = len(call(http.client.HTTPConnection("127.0.0.1", port), "GET", path))
    print(json.dumps({
        "read": path if len(path) < 60 else path[:57] + "...", "bytes": size,
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 3), "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
        "requests_per_s": round(rate),
        # The broker's own time per answer (the histogram's sum over its count, for this read's requests).
        "server_mean_ms": round((after[0] - before[0]) / max(1.0, after[1] - before[1]) * 1000, 3),
    }))
