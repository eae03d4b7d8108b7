#!/usr/bin/env python3
"""Concurrent HTTP tick feeders against a running brokerd (not a test; see BENCHMARKS.md).

usage: scripts/ingest_bench.py PORT THREADS TICKS_PER_POST SECONDS

Each thread posts batches of ticks (codes 600000-600499, prices cycling 10.0-13.0) to
POST /api/ticks on its own keep-alive connection until SECONDS have passed, and the script prints
the acknowledged ticks/s and POST latency percentiles as one JSON line. Without an admin token.
"""
import http.client, json, threading, time, sys
port = int(sys.argv[1]); threads = int(sys.argv[2]); batch = int(sys.argv[3]); seconds = float(sys.argv[4])
done = [0]*threads
lat = [[] for _ in range(threads)]
stop = time.time() + seconds
def run(i):
    c = http.client.HTTPConnection("127.0.0.1", port)
    n = 0
    while time.time() < stop:
        ticks = [{"code": "600%03d" % ((n*batch + k) % 500), "name": "X", "price": 10 + ((n + k) % 7) * 0.5, "volume": n, "prev_close": 10} for k in range(batch)]
        body = json.dumps({"ticks": ticks})
        t0 = time.time()
        c.request("POST", "/api/ticks", body, {"Content-Type": "application/json"})
        r = c.getresponse(); r.read()
        lat[i].append(time.time() - t0)
        if r.status != 200: print("status", r.status); return
        done[i] += batch; n += 1
ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
t0 = time.time()
for t in ts: t.start()
for t in ts: t.join()
el = time.time() - t0
all_l = sorted(x for l in lat for x in l)
print(json.dumps({"threads": threads, "batch": batch, "ticks_per_s": round(sum(done)/el), "posts_per_s": round(len(all_l)/el), "p50_ms": round(all_l[len(all_l)//2]*1000, 2), "p99_ms": round(all_l[int(len(all_l)*0.99)]*1000, 2)}))
