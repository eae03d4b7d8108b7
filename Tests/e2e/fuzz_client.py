#!/usr/bin/env python3
"""Throws mutated client messages, HTTP bodies and query strings at a running brokerd.

usage: fuzz_client.py HTTP_BASE_URL ROUNDS SEED

Each round is either a WebSocket connection (with an odd query string now and then) that sends up
to 30 messages made from valid ones by replacing, dropping, repeating and nesting fields, breaking
the JSON or sending it as a binary frame, then a ping it must get an answer to; or one HTTP request
(an ingest route with a mutated body, or a read with odd parameters). The same seed throws the same
things. Prints one JSON line: the rounds, whether /healthz still answers, and the problems seen: a
5xx other than 503, a connection closed without a close frame or with an unexpected code, a ping
with no answer. Used by PythonClientTests; run it by hand with more rounds and other seeds.
"""
import asyncio, http.client, json, random, sys, urllib.parse
import websockets

base, rounds, seed = sys.argv[1].rstrip("/"), int(sys.argv[2]), int(sys.argv[3])
address = urllib.parse.urlsplit(base)
host, port = address.hostname, address.port
rng = random.Random(seed)
ODD = [None, True, False, 0, -1, 1.5, -0.0, 1e308, -1e308, 2**63, 2**64, -2**63 - 1, 9007199254740993,
       "", " ", "\u0000", "a\u0007b", "💥" * 40, "x" * 70, "x" * 5000, "600519", "sh", "all", "volume_wave",
       [], [None], ["600519"] * 3, {}, {"a": 1}, [[[[[]]]]], "NaN", "Infinity", "1e999", "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace")]
WS_BASE = [
    {"type": "subscribe", "subscription_type": "stock", "target": "600519"},
    {"type": "subscribe", "subscription_type": "strategy", "target": "volume_wave"},
    {"type": "subscribe", "subscription_type": "market", "target": "sh"},
    {"type": "subscribe", "subscription_type": "news", "target": "all"},
    {"type": "subscribe", "subscription_type": "alerts", "target": "me"},
    {"type": "subscribe", "subscription_type": "stock", "targets": ["600519", "000001"]},
    {"type": "unsubscribe", "subscription_type": "stock", "target": "600519"},
    {"type": "unsubscribe", "subscription_type": "stock", "targets": ["600519"]},
    {"type": "ping", "id": 7},
    {"type": "set_alert", "code": "600519", "condition": "above", "threshold": 1900},
    {"type": "set_alert", "code": "600519", "condition": "change_pct", "threshold": 5},
    {"type": "remove_alert", "rule_id": "rule_1"},
    {"type": "list_alerts"},
    {"type": "refresh", "token": "abc"},
]
HTTP_BASE = [
    ("POST", "/api/ticks", {"ticks": [{"code": "600519", "name": "贵州茅台", "price": 1850.5, "volume": 100, "prev_close": 1800}]}),
    ("POST", "/api/klines", {"klines": [{"code": "600519", "period": "1m", "open": 1, "high": 2, "low": 0.5, "close": 1.5, "volume": 10, "start": 1765000000000000}]}),
    ("POST", "/api/news", {"id": "n1", "title": "t", "summary": "s", "url": "http://x", "codes": ["600519"], "category": "company"}),
    ("POST", "/api/alerts/rules", {"user": "alice", "code": "600519", "condition": "above", "threshold": 1900}),
    ("PUT", "/api/signals/volume_wave", {"signals": [{"code": "600519", "name": "贵州茅台", "signal_date": "2026-12-06", "reason": "r"}]}),
    ("POST", "/api/websocket/push/prices?strategy=volume_wave", None),
]
GET_PATHS = ["/api/prices?codes=%s", "/api/prices?strategy=%s", "/api/prices?market=%s", "/api/klines?code=%s&period=%s",
             "/api/news?limit=%s&category=%s", "/api/websocket/subscriptions?type=%s&target=%s&limit=%s",
             "/api/alerts/rules?user=%s&limit=%s", "/api/websocket/clients/%s", "/api/signals/buy?strategy=%s",
             "/api/websocket/clients?user=%s", "/api/cluster", "/api/config", "/api/websocket/stats"]

def mutate(value, depth=0):
    if isinstance(value, dict):
        v = dict(value)
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            keys = list(v.keys()) or ["type"]
            k = rng.choice(keys)
            if op < 0.35: v[k] = rng.choice(ODD)
            elif op < 0.55: v[k] = mutate(v.get(k), depth + 1)
            elif op < 0.7: v.pop(k, None)
            elif op < 0.85: v[rng.choice(["id", "targets", "target", "extra", "type", "since", "threshold"])] = rng.choice(ODD)
            else:
                # Many copies of a scalar; of a list or object only a few (copies of copies grow
                # exponentially, and serializing them would take the fuzzer minutes).
                inner = v.get(k)
                v[k] = [inner] * rng.randint(0, 1200 if not isinstance(inner, (list, dict)) else 3)
        return v
    if isinstance(value, list):
        v = list(value)
        if v and rng.random() < 0.5: v[rng.randrange(len(v))] = mutate(v[rng.randrange(len(v))], depth + 1)
        else: v.append(rng.choice(ODD))
        return v
    return rng.choice(ODD)

def raw(text):
    # Sometimes break the JSON itself.
    r = rng.random()
    if r < 0.05: return text[: rng.randint(0, len(text))]
    if r < 0.08: return text.replace(":", "::", 1)
    if r < 0.10: return text[:-1] + ',"type":"ping"}' if text.endswith("}") else text
    return text

problems = []

async def ws_round(n):
    sent = []
    qs = rng.choice(["", "?price_interval=" + str(rng.choice(ODD)), "?resume=client_00000000&since=" + str(rng.choice(ODD)), "?since=-1"])
    try:
        async with websockets.connect(f"ws://{host}:{port}/ws/stock/prices{qs}", max_size=None, open_timeout=10) as ws:
            await ws.recv()
            for _ in range(rng.randint(1, 30)):
                msg = mutate(rng.choice(WS_BASE)) if rng.random() < 0.9 else rng.choice(WS_BASE)
                try:
                    text = raw(json.dumps(msg, ensure_ascii=rng.random() < 0.5, allow_nan=True))
                except (TypeError, ValueError):
                    continue
                if len(text) > 1_000_000: continue
                binary = rng.random() < 0.03
                await ws.send(text.encode() if binary else text)
                sent.append(("binary: " if binary else "") + text[:200])
            await ws.send(json.dumps({"type": "ping", "id": "last"}))
            while True:
                reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if reply.get("id") == "last":
                    if reply.get("type") != "pong" and reply.get("error") != "rate_limited":
                        problems.append(f"ws round {n}: the last ping answered {reply}")
                    break
    except websockets.ConnectionClosed as closed:
        if closed.rcvd is None: problems.append(f"ws round {n}: closed without a close frame; qs {qs!r} sent {sent}")
        elif closed.rcvd.code not in (1000, 1003, 1007, 1008, 1009): problems.append(f"ws round {n}: closed {closed.rcvd.code} {closed.rcvd.reason}")
    except websockets.InvalidStatusCode as e:
        if e.status_code != 400: problems.append(f"ws round {n}: {e}")
    except Exception as e:
        problems.append(f"ws round {n}: {type(e).__name__} {e}")

def http_round(n):
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        if rng.random() < 0.5:
            method, path, body = rng.choice(HTTP_BASE)
            body = mutate(body) if body is not None and rng.random() < 0.9 else body
            try: data = raw(json.dumps(body, allow_nan=True)) if body is not None else ""
            except (TypeError, ValueError): return
            if len(data) > 8_000_000: return
            if rng.random() < 0.1: path = path.replace("volume_wave", urllib.parse.quote(str(rng.choice(ODD)), safe=""))
            conn.request(method, path, data.encode("utf-8", "surrogatepass"), {"Content-Type": "application/json"})
        else:
            template = rng.choice(GET_PATHS)
            args = tuple(urllib.parse.quote(str(rng.choice(ODD)), safe="") for _ in range(template.count("%s")))
            conn.request(rng.choice(["GET", "GET", "HEAD", "DELETE"]), template % args)
        response = conn.getresponse(); body = response.read()
        if response.status >= 500 and response.status != 503:
            problems.append(f"http round {n}: {response.status} {body[:200]!r}")
    except Exception as e:
        problems.append(f"http round {n}: {type(e).__name__} {e}")
    finally:
        conn.close()

async def main():
    for n in range(rounds):
        if rng.random() < 0.5: await ws_round(n)
        else: await asyncio.get_running_loop().run_in_executor(None, http_round, n)
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/healthz"); alive = conn.getresponse().status
    print(json.dumps({"rounds": rounds, "seed": seed, "healthz": alive, "problems": problems[:50], "count": len(problems)}, ensure_ascii=False))

asyncio.run(main())
