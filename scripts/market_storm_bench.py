#!/usr/bin/env python3
"""A storm of market subscribers against a running brokerd (not a test; see BENCHMARKS.md).

usage: scripts/market_storm_bench.py PORT CLIENTS

Feeds ticks of 5,000 codes (1,250 of them on the sh board; no admin token), then opens CLIENTS
WebSocket clients at once, each subscribing to `market sh`, while another process posts one tick
every 2 ms. Prints how long until every client had its 1,250-price snapshot, and the POST
/api/ticks times meanwhile. Needs Python's websockets package (scripts/setup --tests installs it).
"""
import asyncio, http.client, json, subprocess, sys, time
import websockets

port, clients = int(sys.argv[1]), int(sys.argv[2])

# Posts one tick every 2 ms for SECONDS, then prints [(wall time, milliseconds)] of each POST.
POSTER = '''
import http.client, json, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port)
end = time.time() + seconds; i = 0; out = []
while time.time() < end:
    body = json.dumps({"ticks": [{"code": "0%05d" % (i % 2500), "price": 11 + i % 7, "volume": 1, "prev_close": 10}]})
    t = time.perf_counter(); conn.request("POST", "/api/ticks", body, {"Content-Type": "application/json"}); conn.getresponse().read()
    out.append(((time.time()), (time.perf_counter() - t) * 1000)); i += 1; time.sleep(0.002)
print(json.dumps(out))
'''

def feed():
    conn = http.client.HTTPConnection("127.0.0.1", port)
    codes = ["6%05d" % i for i in range(1250)] + ["0%05d" % i for i in range(2500)] + ["3%05d" % i for i in range(1250)]
    for start in range(0, len(codes), 500):
        ticks = [{"code": c, "name": c, "price": 10.5, "volume": 100, "prev_close": 10} for c in codes[start:start + 500]]
        conn.request("POST", "/api/ticks", json.dumps({"ticks": ticks}), {"Content-Type": "application/json"}); conn.getresponse().read()

async def client(done):
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/stock/prices", max_size=None) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "subscribe", "subscription_type": "market", "target": "sh"}))
        while True:
            m = await ws.recv()
            if m.startswith('{"count":1250,'):
                done.append(time.perf_counter()); break

async def main():
    feed()
    proc = subprocess.Popen([sys.executable, "-c", POSTER, str(port), "4"], stdout=subprocess.PIPE)
    await asyncio.sleep(1)
    wall0 = time.time()
    done = []
    start = time.perf_counter()
    await asyncio.gather(*[client(done) for _ in range(clients)])
    elapsed = max(done) - start
    wall1 = wall0 + elapsed
    out = json.loads(proc.communicate()[0])
    during = sorted(ms for (at, ms) in out if wall0 <= at <= wall1 + 0.05)
    q = lambda p: during[min(len(during) - 1, int(p * len(during)))]
    print(json.dumps({"clients": clients, "all_snapshots_s": round(elapsed, 3), "posts_during": len(during),
                      "post_p50_ms": round(q(0.5), 2), "post_p99_ms": round(q(0.99), 2), "post_max_ms": round(during[-1], 2)}))

asyncio.run(main())
