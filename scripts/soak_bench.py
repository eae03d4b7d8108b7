#!/usr/bin/env python3
"""Connection churn for a long while: does the broker's memory level off? (not a test; see
BENCHMARKS.md "Soak").

usage: scripts/soak_bench.py BROKERD_BINARY MINUTES [WORKERS] [PORT] [-- BROKER_ARGUMENTS...]

Starts the broker on a fresh journal with its simulator on (the default, 20 ticks/s) and a resume
window of 60 s, then WORKERS clients (default 40) connect, subscribe (a strategy, a stock, a market,
news, alerts), set an alert now and then, read what is pushed for 0.2-1.5 s and leave: a close, an
abrupt end of the socket, or (every fifth) a resume of an earlier session; an operator reads the
stats and the client list every second and kicks a client every 10 s. Every 30 s it prints the
broker's RSS, what of it SQLite holds (its page caches grow with the journal, up to
`journal_cache_mib`, 64 MiB, per connection: `-- --journal-cache-mib 8` caps them), its sessions and connections, the journal's size and the churn so far; at the end, the
growth over the second half of the RSS and of the RSS without SQLite's part (a leak grows on; a
broker that levels off does not). Needs
Python's websockets package (scripts/setup --tests installs it).
"""
import asyncio, http.client, json, os, random, signal, subprocess, sys, tempfile, time
import websockets

arguments, extra = (sys.argv[:sys.argv.index("--")], sys.argv[sys.argv.index("--") + 1:]) if "--" in sys.argv else (sys.argv, [])
binary, minutes = arguments[1], float(arguments[2])
workers = int(arguments[3]) if len(arguments) > 3 else 40
port = int(arguments[4]) if len(arguments) > 4 else 18750
scratch = tempfile.mkdtemp(prefix="brokerd-soak-")
broker = subprocess.Popen(
    [binary, "serve", "--port", str(port), "--journal", os.path.join(scratch, "journal.sqlite"), "--resume-window", "60",
     "--log-level", "warning"] + extra,
    stdout=open(os.path.join(scratch, "broker.log"), "w"), stderr=subprocess.STDOUT)
counts = {"connects": 0, "resumed": 0, "messages": 0, "aborted": 0, "kicked": 0, "errors": 0}
sessions = []  # (client_id, resume token, last seq) of sessions left, for resumes


def request(method, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, (json.loads(body) if body else {})


def rss_kib():
    with open(f"/proc/{broker.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def client(rng):
    query = ""
    if sessions and rng.random() < 0.2:
        client_id, token, seq = sessions.pop(rng.randrange(len(sessions)))
        query = f"?resume={client_id}&since={seq}&resume_token={token}"
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/stock/prices{query}", max_size=None) as ws:
        connected = json.loads(await ws.recv())
        counts["connects"] += 1
        counts["resumed"] += 1 if connected.get("resumed") else 0
        seq = connected.get("seq", 0)
        for kind, target in [("strategy", "volume_wave"), ("stock", "600519"), ("market", "sh"), ("news", "all"), ("alerts", "me")]:
            if rng.random() < 0.6:
                await ws.send(json.dumps({"type": "subscribe", "subscription_type": kind, "target": target}))
        if rng.random() < 0.2:
            await ws.send(json.dumps({"type": "set_alert", "code": "600519", "condition": "above", "threshold": rng.randint(1000, 3000)}))
        end = time.monotonic() + rng.uniform(0.2, 1.5)
        while (left := end - time.monotonic()) > 0:
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), left))
            except asyncio.TimeoutError:
                break
            counts["messages"] += 1
            seq = max(seq, message.get("seq") or 0)
        sessions.append((connected["client_id"], connected["resume_token"], seq))
        del sessions[:-500]
        if rng.random() < 0.2:
            counts["aborted"] += 1
            ws.transport.abort()


async def worker(index, deadline):
    rng = random.Random(index)
    while time.monotonic() < deadline:
        try:
            await client(rng)
        except (websockets.exceptions.WebSocketException, OSError, asyncio.TimeoutError, KeyError, json.JSONDecodeError):
            counts["errors"] += 1
            await asyncio.sleep(0.1)


async def operator(deadline):
    tick = 0
    while time.monotonic() < deadline:
        await asyncio.sleep(1)
        tick += 1
        await asyncio.to_thread(request, "GET", "/api/websocket/stats")
        status, body = await asyncio.to_thread(request, "GET", "/api/websocket/clients?limit=50")
        if tick % 10 == 0 and body.get("clients"):
            victim = random.choice(body["clients"])["client_id"]
            status, _ = await asyncio.to_thread(request, "DELETE", f"/api/websocket/clients/{victim}")
            counts["kicked"] += 1 if status == 200 else 0


async def sampler(deadline, samples, started):
    while time.monotonic() < deadline:
        _, stats = await asyncio.to_thread(request, "GET", "/api/websocket/stats")
        journal = stats.get("journal", {})
        sample = {"minute": round((time.monotonic() - started) / 60, 1), "rss_kib": rss_kib(),
                  "sessions": (stats.get("connections") or {}).get("sessions"), "active": (stats.get("connections") or {}).get("active"),
                  "sqlite_kib": (journal.get("sqlite_memory_bytes") or 0) // 1024,
                  "journal_mib": round((journal.get("size_bytes") or 0) / 2**20, 1), **counts}
        sample["rss_without_sqlite_kib"] = sample["rss_kib"] - sample["sqlite_kib"]
        samples.append(sample)
        print(json.dumps(sample), flush=True)
        await asyncio.sleep(30)


async def main():
    for _ in range(200):
        try:
            if request("GET", "/readyz")[0] == 200:
                break
        except OSError:
            pass
        await asyncio.sleep(0.05)
    started = time.monotonic()
    deadline = started + minutes * 60
    samples = []
    await asyncio.gather(sampler(deadline, samples, started), operator(deadline), *(worker(i, deadline) for i in range(workers)))
    half = [s for s in samples if s["minute"] >= minutes / 2]
    growth = half[-1]["rss_kib"] - half[0]["rss_kib"] if len(half) > 1 else 0
    growth_without_sqlite = half[-1]["rss_without_sqlite_kib"] - half[0]["rss_without_sqlite_kib"] if len(half) > 1 else 0
    print(json.dumps({"minutes": minutes, "workers": workers, "rss_first_kib": samples[0]["rss_kib"], "rss_last_kib": samples[-1]["rss_kib"],
                      "rss_growth_second_half_kib": growth, "rss_without_sqlite_growth_second_half_kib": growth_without_sqlite, **counts}))


try:
    asyncio.run(main())
finally:
    broker.send_signal(signal.SIGTERM)
    broker.wait(timeout=30)
    print(json.dumps({"broker_exit": broker.returncode, "scratch": scratch}), file=sys.stderr)
