#!/usr/bin/env python3
"""Tick latency on a node while an operator lists every node's connections (not a test; see
BENCHMARKS.md, "Answers of a megabyte beside the ticks").

usage: scripts/answers_bench.py BROKERD BROKERBENCH [--lists] [--interval SECONDS] [--query QUERY]
                                [--subscribers N] [--subscriptions N] [-- BROKERBENCH_ARGS...]

Starts a redis-server on a free loopback port and two brokerd nodes sharing through it: node-b
with N clients (default 2), each following 6,000 strategies named with 58 Chinese characters and
six digits, so its own list of connections is over 1 MiB per client and comes to another node in
parts; node-a, the node measured, with the arguments `brokerbench --spawn` gives a broker. Then
runs `brokerbench redis` against node-a (1,000 clients, 50,000 ticks/s published to Redis by
default) and, with --lists, asks node-a for `GET /api/websocket/clients?QUERY` (default
`nodes=all`; e.g. `nodes=all&subscriptions=count`) every --interval seconds (default 1) while it
runs: each answer from node-b is read by node-a. Prints
brokerbench's result line, then one line about the lists. Needs Python's websockets package
(scripts/setup --tests installs it) and redis-server.
"""
import asyncio, http.client, json, os, shutil, signal, socket, subprocess, sys, tempfile, threading, time
import websockets

args = sys.argv[1:]
extra = []
if "--" in args:
    extra = args[args.index("--") + 1:]
    args = args[:args.index("--")]
brokerd, brokerbench = args[0], args[1]
lists = "--lists" in args
def option(name, default):
    return type(default)(args[args.index(name) + 1]) if name in args else default
interval = option("--interval", 1.0)
query = option("--query", "nodes=all")
subscribers = option("--subscribers", 2)
subscriptions = option("--subscriptions", 6000)

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def get(port, path, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body

def wait_until(what, check, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"gave up waiting for {what}")

scratch = tempfile.mkdtemp(prefix="answers-bench-")
processes = []
def spawn(argv, log):
    process = subprocess.Popen(argv, stdout=open(os.path.join(scratch, log), "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    processes.append(process)
    return process

def node(name, port, more):
    return spawn([brokerd, "serve", "--host", "127.0.0.1", "--port", str(port), "--journal", os.path.join(scratch, name + ".sqlite"),
                  "--simulator", "off", "--node-id", name, "--redis-url", redis_url] + more, name + ".log")

try:
    redis_port = free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}"
    spawn(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", scratch],
          "redis.log")
    wait_until("redis-server", lambda: socket.create_connection(("127.0.0.1", redis_port), timeout=1).close() is None)
    port_b, port_a = free_port(), free_port()
    node("node-b", port_b, ["--max-subscriptions-per-client", "10000", "--max-frame-bytes", "1048576", "--outbound-queue", "20000"])
    # What `brokerbench --spawn` passes (Sources/brokerbench/Broker/BrokerProcess.swift).
    node_a = node("node-a", port_a, ["--max-clients", "20000", "--messages-per-second", "1000", "--burst", "1000"])
    for port in (port_a, port_b):
        wait_until(f"the node on {port} to be ready", lambda: get(port, "/readyz")[0] == 200)
    wait_until("node-a to know node-b", lambda: b"node-b" in get(port_a, "/api/cluster")[1])

    # node-b's clients, held open on a thread of their own until the process ends.
    opened = threading.Event()
    async def hold():
        sockets = []
        for client in range(subscribers):
            ws = await websockets.connect(f"ws://127.0.0.1:{port_b}/ws/stock/prices", max_size=None)
            await ws.recv()  # connected
            names = ["策" * 58 + "%06d" % n for n in range(client * subscriptions, (client + 1) * subscriptions)]
            for start in range(0, len(names), 1000):
                await ws.send(json.dumps({"type": "subscribe", "subscription_type": "strategy", "targets": names[start:start + 1000]}))
                replies = 0
                while replies < len(names[start:start + 1000]):
                    message = json.loads(await ws.recv())
                    if message["type"] == "error":
                        sys.exit(f"node-b refused a subscription: {message}")
                    replies += message["type"] == "subscribed"
            sockets.append(ws)
        opened.set()
        await asyncio.Event().wait()
    holder = threading.Thread(target=lambda: asyncio.run(hold()), daemon=True)
    holder.start()
    if not opened.wait(120):
        sys.exit("node-b's clients did not subscribe in 2 minutes")
    own = len(get(port_b, "/api/websocket/clients")[1])

    bench = subprocess.Popen([brokerbench, "redis", "--port", str(port_a), "--broker-pid", str(node_a.pid), "--redis-url", redis_url]
                             + extra, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    times, sizes, faults = [], [], []
    def list_all():
        # The clients connect and the warm-up runs first; then a list every interval until the end.
        time.sleep(8)
        while bench.poll() is None:
            started = time.time()
            status, body = get(port_a, "/api/websocket/clients?" + query, timeout=60)
            times.append(time.time() - started)
            sizes.append(len(body))
            answer = json.loads(body)
            if status != 200 or answer.get("errors") or answer.get("unanswered"):
                faults.append({"status": status, "errors": answer.get("errors"), "unanswered": answer.get("unanswered")})
            time.sleep(max(0.0, interval - (time.time() - started)))
    lister = threading.Thread(target=list_all, daemon=True)
    if lists:
        lister.start()
    output = bench.communicate()[0]
    if lists:
        lister.join()
    print(output.strip().splitlines()[-1] if output.strip() else "brokerbench printed nothing")
    times.sort()
    print(json.dumps({
        "lists": len(times), "node_b_list_bytes": own,
        "list_bytes_median": sorted(sizes)[len(sizes) // 2] if sizes else 0,
        "list_seconds_median": round(times[len(times) // 2], 3) if times else None,
        "list_seconds_max": round(times[-1], 3) if times else None, "faults": faults[:3], "fault_count": len(faults),
    }))
finally:
    for process in reversed(processes):
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
    shutil.rmtree(scratch, ignore_errors=True)
