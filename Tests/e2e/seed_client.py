#!/usr/bin/env python3
"""The seed's own kind of client: Python `websockets`, talking to a running brokerd.

Runs the seed document's flow (connect, subscribe, snapshot, ping, pushed prices, unsubscribe),
checks that bad input gets an `error` and leaves the connection usable, then disconnects and
resumes with ?resume=&since= to get the price it missed. Prints one JSON line per step to stdout
and a final {"result": ...} line; exits 1 with the failed step on stderr when something is wrong.

usage: seed_client.py WS_URL HTTP_BASE_URL STRATEGY CODE
"""
import asyncio
import json
import sys
import urllib.request

import websockets

TIMEOUT = 10.0


class StepFailed(Exception):
    pass


def post_ticks(base_url, ticks):
    body = json.dumps({"ticks": ticks}).encode()
    request = urllib.request.Request(
        base_url + "/api/ticks", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        if response.status != 200:
            raise StepFailed(f"POST /api/ticks answered {response.status}")


async def receive(socket, wanted):
    """The next message of type `wanted`; k-line bars and other pushes in between are skipped."""
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))
        if message.get("type") == wanted:
            return message
        if message.get("type") == "error" and wanted != "error":
            raise StepFailed(f"expected {wanted}, got error {message}")


def negotiated_extensions(socket):
    """The upgrade response's Sec-WebSocket-Extensions (websockets 10's and 14's connection objects)."""
    headers = getattr(socket, "response_headers", None)
    if headers is None:
        headers = socket.response.headers
    return headers.get("Sec-WebSocket-Extensions", "")


def report(step, **fields):
    print(json.dumps({"step": step, **fields}, ensure_ascii=False), flush=True)


def expect(condition, what):
    if not condition:
        raise StepFailed(what)


async def run(ws_url, base_url, strategy, code):
    async with websockets.connect(ws_url) as socket:
        connected = await receive(socket, "connected")
        client_id = connected["client_id"]
        # The seed's broker had no resume; ours hands out the token a resume must bring back.
        resume_token = connected.get("resume_token", "")
        expect(connected.get("resumed") is False, f"a new connection was resumed: {connected}")
        # websockets offers permessage-deflate by default, so what follows runs compressed both ways
        # when the broker takes it (its default).
        report("connected", client_id=client_id, seq=connected["seq"], extensions=negotiated_extensions(socket))

        # The seed's subscribe message; subscription_type defaults to strategy.
        await socket.send(json.dumps({"type": "subscribe", "target": strategy}))
        subscribed = await receive(socket, "subscribed")
        expect(subscribed["target"] == strategy, f"subscribed to the wrong target: {subscribed}")
        snapshot = await receive(socket, "price_update")
        report("snapshot", codes=[entry["code"] for entry in snapshot["data"]])

        await socket.send(json.dumps({"type": "ping"}))
        await receive(socket, "pong")
        report("pong")

        post_ticks(base_url, [{"code": code, "name": "Stock " + code, "price": 21.5, "volume": 900, "prev_close": 20.0}])
        update = await receive(socket, "price_update")
        entry = next(e for e in update["data"] if e["code"] == code)
        expect(entry["price"] == 21.5, f"pushed the wrong price: {entry}")
        report("pushed", code=code, price=entry["price"], change_percent=entry["change_percent"], seq=update["seq"])
        last_seq = update["seq"]

        await socket.send("{not json")
        error = await receive(socket, "error")
        report("error", error=error["error"])
        await socket.send(json.dumps({"type": "ping"}))
        await receive(socket, "pong")
        report("usable_after_error")

    # A tick while the client is away, then a resume from the last seq it saw.
    post_ticks(base_url, [{"code": code, "name": "Stock " + code, "price": 22.75, "volume": 950, "prev_close": 20.0}])
    async with websockets.connect(f"{ws_url}?resume={client_id}&since={last_seq}&resume_token={resume_token}") as socket:
        connected = await receive(socket, "connected")
        expect(connected.get("resumed") is True, f"resume refused: {connected}")
        expect(connected["client_id"] == client_id, f"resumed as another client: {connected}")
        missed = await receive(socket, "price_update")
        entry = next(e for e in missed["data"] if e["code"] == code)
        expect(entry["price"] == 22.75, f"the missed price is wrong: {entry}")
        report("resumed", client_id=client_id, missed_price=entry["price"])

        await socket.send(json.dumps({"type": "unsubscribe", "subscription_type": "strategy", "target": strategy}))
        unsubscribed = await receive(socket, "unsubscribed")
        report("unsubscribed", target=unsubscribed["target"])
    return client_id


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        client_id = asyncio.run(run(*sys.argv[1:]))
    except (StepFailed, asyncio.TimeoutError, websockets.exceptions.WebSocketException, OSError) as failure:
        print(f"seed_client: {type(failure).__name__}: {failure}", file=sys.stderr)
        return 1
    print(json.dumps({"result": "ok", "client_id": client_id}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
