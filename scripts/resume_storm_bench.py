#!/usr/bin/env python3
"""A broker killed and restarted under its clients: how long until every client resumed (not a test;
see BENCHMARKS.md).

usage: scripts/resume_storm_bench.py BROKERD_BINARY CLIENTS [PORT]

Starts the broker on a fresh journal (simulator off), gives a strategy `bench` 50 codes, connects
CLIENTS WebSocket clients subscribed to it, posts ticks, then kills the broker with SIGKILL while
ticks are still being posted, and starts it again on the same journal. Once `/readyz` says ready,
every client reconnects at once with `?resume=<client_id>&since=<last seq seen>&resume_token=`.
Prints the time from the restart to ready (replay), and from ready until every client had its
`connected` (resumed) and the strategy's latest prices; the broker's CPU time in that storm; and the
times of the POST /api/ticks sent meanwhile (ingest held up by the storm). Needs Python's
websockets package (scripts/setup --tests installs it).
"""
import asyncio, http.client, json, os, signal, subprocess, sys, tempfile, time
import websockets

binary, clients = sys.argv[1], int(sys.argv[2])
port = int(sys.argv[3]) if len(sys.argv) > 3 else 18700
codes = ["600%03d" % i for i in range(50)]

# Posts one tick every 2 ms for SECONDS, then prints [(wall time, milliseconds)] of each POST.
POSTER = '''
import http.client, json, sys, time
port, seconds, codes = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3].split(",")
conn = http.client.HTTPConnection("127.0.0.1", port); end = time.time() + seconds; i = 0; out = []
while time.time() < end:
    body = json.dumps({"ticks": [{"code": codes[i % len(codes)], "price": 20 + i % 13, "volume": 1, "prev_close": 20}]})
    t = time.perf_counter(); conn.request("POST", "/api/ticks", body, {"Content-Type": "application/json"}); conn.getresponse().read()
    out.append((time.time(), (time.perf_counter() - t) * 1000)); i += 1; time.sleep(0.002)
print(json.dumps(out))
'''

def request(method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, json.dumps(body) if body is not None else None, {"Content-Type": "application/json"})
    response = conn.getresponse(); data = response.read(); conn.close()
    return response.status, data

def start(journal):
    process = subprocess.Popen([binary, "serve", "--port", str(port), "--journal", journal, "--simulator", "off"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.perf_counter()
    while True:
        try:
            if request("GET", "/readyz")[0] == 200: return process, time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.01)

def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

class Client:
    def __init__(self): self.id = self.token = None; self.seq = 0; self.ws = None

    def see(self, message):
        self.seq = max(self.seq, message.get("seq") or 0)

async def first_session(client):
    client.ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/stock/prices", max_size=None)
    connected = json.loads(await client.ws.recv())
    client.id, client.token = connected["client_id"], connected["resume_token"]; client.see(connected)
    await client.ws.send(json.dumps({"type": "subscribe", "subscription_type": "strategy", "target": "bench"}))
    async for text in client.ws:
        client.see(json.loads(text))

async def resume(client, done):
    url = f"ws://127.0.0.1:{port}/ws/stock/prices?resume={client.id}&since={client.seq}&resume_token={client.token}"
    async with websockets.connect(url, max_size=None, open_timeout=60) as ws:
        connected = json.loads(await ws.recv())
        assert connected["type"] == "connected" and connected["resumed"], connected
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "price_update":
                done.append(time.perf_counter()); return

async def main():
    directory = tempfile.mkdtemp(prefix="resume-storm-")
    journal = os.path.join(directory, "j.sqlite")
    broker, _ = start(journal)
    request("PUT", "/api/signals/bench", {"signals": [{"code": c, "name": "S" + c} for c in codes]})
    request("POST", "/api/ticks", {"ticks": [{"code": c, "price": 20, "volume": 1, "prev_close": 20} for c in codes]})
    population = [Client() for _ in range(clients)]
    sessions = [asyncio.create_task(first_session(c)) for c in population]
    await asyncio.sleep(3 + clients / 500)
    # Ticks while the clients listen; the broker is killed while they still come.
    poster = subprocess.Popen([sys.executable, "-c", POSTER, str(port), "1.5", ",".join(codes)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # it fails when the broker is killed
    await asyncio.sleep(1)
    broker.send_signal(signal.SIGKILL); broker.wait()
    poster.wait()
    for task in sessions: task.cancel()
    await asyncio.gather(*sessions, return_exceptions=True)
    restarted, replay_s = start(journal)
    # RESUME_STORM_PERF=FILE records a profile of the restarted broker through the storm.
    profiler = os.environ.get("RESUME_STORM_PERF") and subprocess.Popen(
        ["perf", "record", "-g", "-p", str(restarted.pid), "-o", os.environ["RESUME_STORM_PERF"]],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    poster = subprocess.Popen([sys.executable, "-c", POSTER, str(port), "6", ",".join(codes)], stdout=subprocess.PIPE)
    await asyncio.sleep(0.2)
    cpu0, wall0, t0 = cpu_seconds(restarted.pid), time.time(), time.perf_counter()
    done = []
    await asyncio.gather(*[resume(c, done) for c in population])
    storm_s = max(done) - t0
    cpu = cpu_seconds(restarted.pid) - cpu0
    if profiler: profiler.send_signal(signal.SIGINT); profiler.wait()
    out = json.loads(poster.communicate()[0])
    during = sorted(ms for (at, ms) in out if wall0 <= at <= wall0 + storm_s + 0.05) or [0]
    q = lambda p: during[min(len(during) - 1, int(p * len(during)))]
    restarted.send_signal(signal.SIGTERM); restarted.wait()
    subprocess.run(["rm", "-rf", directory])
    print(json.dumps({"clients": clients, "replay_to_ready_s": round(replay_s, 3), "all_resumed_s": round(storm_s, 3),
                      "broker_cpu_s": round(cpu, 3), "posts_during": len(during), "post_p50_ms": round(q(0.5), 2),
                      "post_max_ms": round(during[-1], 2)}))

asyncio.run(main())
