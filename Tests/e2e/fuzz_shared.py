#!/usr/bin/env python3
"""PUBLISHes mutated shared messages on a brokerd's Redis channels and XADDs mutated entries to its
shared log, as a faulty node or feeder might.

usage: fuzz_shared.py REDIS_PORT BROKER_BASE_URL ROUNDS SEED

The channels are those of the default tick channel `ticks` (ticks, news, alerts, signals, k-lines,
removals, nodes) and the log `ticks:log`. Messages are made from valid ones by replacing, dropping
and repeating fields and cutting the JSON short. Prints one JSON line: the rounds, whether /healthz
still answers, and the broker's Redis stats after. Used by PythonClientTests; by hand with other
seeds and more rounds.
"""
import json, random, socket, sys, http.client, urllib.parse
rport, base, rounds, seed = int(sys.argv[1]), sys.argv[2].rstrip("/"), int(sys.argv[3]), int(sys.argv[4])
address = urllib.parse.urlsplit(base)
rng = random.Random(seed)
ODD = [None, True, False, 0, -1, 1.5, -0.0, 1e308, -1e308, 2**63, 2**64, -2**63 - 1, -2**63, 2**63 - 1, 9007199254740993,
       "", " ", "\u0000", "a\u0007b", "💥" * 40, "x" * 70, "x" * 5000, "600519", "sh", "all", "volume_wave",
       [], [None], ["600519"] * 3, {}, {"a": 1}, [[[[[]]]]], "NaN", "Infinity", "1e999"]
tick = {"code": "600519", "name": "贵州茅台", "price": 1850.5, "volume": 100, "prev_close": 1800, "timestamp": 1765000000000000}
BASE = {
    "ticks": [tick, [tick, tick], {"node": "n2", "instance": "i", "ticks": [tick]}],
    "ticks:news": [{"node": "n2", "instance": "i", "news": {"id": "n1", "title": "t", "summary": "s", "url": "u", "codes": ["600519"], "category": "company", "published_at": 1765000000000000}}, {"news": {"title": "t"}}],
    "ticks:alerts": [{"node": "n2", "instance": "i", "set": {"id": "r1", "user": "alice", "code": "600519", "condition": "above", "threshold": 1900}}, {"removed": {"rule_id": "r1", "user": "alice"}}],
    "ticks:signals": [{"node": "n2", "instance": "i", "strategy": "vw", "signals": [{"code": "600519", "name": "x", "signal_date": "2026-12-06", "reason": "r"}]}],
    "ticks:klines": [{"node": "n2", "instance": "i", "klines": [{"code": "600519", "period": "1m", "open": 1, "high": 2, "low": 0.5, "close": 1.5, "volume": 10, "start": 1765000000000000, "closed": True}]}],
    "ticks:removals": [{"node": "n2", "instance": "i", "remove_user": {"user": "alice", "session": "end", "requested_at": 1765000000000000, "request_id": "r"}},
                       {"remove_user": {"user": "alice", "session": "keep"}},
                       {"node": "n2", "instance": "i", "removed_user": {"request_id": "r", "asked_on": "vm", "user": "alice", "clients": ["client_00000000"]}},
                       {"node": "n2", "instance": "i", "remove_client": {"client_id": "client_00000000", "session": "end", "requested_at": 1765000000000000, "request_id": "r"}},
                       {"remove_client": {"client_id": "client_00000000", "session": "keep"}},
                       {"node": "n2", "instance": "i", "removed_client": {"request_id": "r", "asked_on": "vm", "client_id": "client_00000000",
                                                                          "removed": {"user": "alice", "disconnected": True, "session_ended": True, "seq": 7}}},
                       {"node": "n2", "instance": "i", "removed_client": {"request_id": "r", "asked_on": "vm", "client_id": "client_00000000",
                                                                          "refused": {"status": 409, "error": "client_not_connected", "details": "d"}}},
                       {"node": "n2", "instance": "i", "find_client": {"client_id": "client_00000000", "request_id": "r"}},
                       {"node": "n2", "instance": "i", "find_user": {"user": "alice", "request_id": "r"}},
                       {"node": "n2", "instance": "i", "find_connections": {"request_id": "r"}},
                       {"node": "n2", "instance": "i", "find_subscribers": {"type": "stock", "target": "600519", "request_id": "r"}},
                       {"node": "n2", "instance": "i", "find_subscriptions": {"type": "stock", "request_id": "r"}},
                       {"node": "n2", "instance": "i", "found_subscriptions": {"request_id": "r", "asked_on": "vm", "body": "{\"count\":0,\"subscriptions\":[]}"}},
                       {"node": "n2", "instance": "i", "found_user": {"request_id": "r", "asked_on": "vm", "user": "alice", "body": "{\"count\":0,\"clients\":[]}"}},
                       {"node": "n2", "instance": "i", "found_client": {"request_id": "r", "asked_on": "vm", "client_id": "client_00000000",
                                                                        "body": "{\"session\":{}}"}}],
    "ticks:nodes": [{"node": "n2", "instance": "i", "heartbeat": {"state": "serving", "connections": 1, "sessions": 1, "ticks_per_second": 2.5, "journal_seq": 7, "started_at": 1765000000000000, "sent_at": 1765000000000000}}],
}
def mutate(value, depth=0):
    if isinstance(value, dict):
        v = dict(value)
        for _ in range(rng.randint(1, 3)):
            op = rng.random(); k = rng.choice(list(v.keys()) or ["x"])
            if op < 0.4: v[k] = rng.choice(ODD)
            elif op < 0.7: v[k] = mutate(v.get(k), depth + 1)
            elif op < 0.85: v.pop(k, None)
            else: v[k] = [v.get(k)] * rng.randint(0, 3)
        return v
    if isinstance(value, list):
        v = list(value)
        if v and rng.random() < 0.6: v[rng.randrange(len(v))] = mutate(v[rng.randrange(len(v))], depth + 1)
        else: v.append(rng.choice(ODD))
        return v
    return rng.choice(ODD) if rng.random() < 0.7 else value
def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out
s = socket.create_connection(("127.0.0.1", rport)); f = s.makefile("rb")
def cmd(*args):
    s.sendall(resp(*args)); line = f.readline()
    if line[:1] == b"$":
        n = int(line[1:]); 
        if n >= 0: f.read(n + 2)
    return line
for n in range(rounds):
    channel = rng.choice(list(BASE))
    msg = mutate(rng.choice(BASE[channel])) if rng.random() < 0.9 else rng.choice(BASE[channel])
    try: text = json.dumps(msg, allow_nan=True)
    except (TypeError, ValueError): continue
    if rng.random() < 0.05: text = text[: rng.randint(0, len(text))]
    if channel != "ticks" and channel != "ticks:removals" and channel != "ticks:nodes" and rng.random() < 0.3:
        kind = {"ticks:news": "news", "ticks:alerts": "alerts", "ticks:signals": "signals", "ticks:klines": "klines"}[channel]
        cmd("XADD", "ticks:log", "*", "kind", rng.choice([kind, kind, "bogus", ""]), "message", text.encode("utf-8", "surrogatepass"))
    else:
        cmd("PUBLISH", channel, text.encode("utf-8", "surrogatepass"))
# A last, valid removal: once the broker has acted on it, it has read everything before it.
cmd("PUBLISH", "ticks:removals", json.dumps({"remove_user": {"user": "fuzz-done"}}))
def get(path):
    c = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    c.request("GET", path)
    r = c.getresponse()
    return r.status, r.read()
healthz = get("/healthz")[0]
print(json.dumps({"rounds": rounds, "seed": seed, "healthz": healthz, "redis": json.loads(get("/api/websocket/stats")[1]).get("redis")}))
