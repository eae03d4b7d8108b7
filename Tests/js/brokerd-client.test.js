// Unit tests of Public/brokerd-client.js, the browser client: its reconnect, resume, re-subscribe
// and dead-connection rules, on a fake clock and a fake WebSocket (pure logic, no sockets; the
// console's browser test runs the same file against a real broker). Run: node --test Tests/js
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");

/** A clock and timers under the test's control: time moves only in `advance`. */
class FakeClock {
  constructor() {
    this.now = 1_000_000;
    this.nextId = 1;
    this.timers = new Map(); // id -> {at, every, fn}
  }

  install() {
    const clock = this;
    const saved = {
      setTimeout: globalThis.setTimeout,
      setInterval: globalThis.setInterval,
      clearTimeout: globalThis.clearTimeout,
      clearInterval: globalThis.clearInterval,
      dateNow: Date.now,
      random: Math.random,
    };
    globalThis.setTimeout = (fn, delay) => clock.add(fn, delay, null);
    globalThis.setInterval = (fn, delay) => clock.add(fn, delay, delay);
    globalThis.clearTimeout = globalThis.clearInterval = (id) => clock.timers.delete(id);
    Date.now = () => clock.now;
    Math.random = () => 0.5; // jitter factor 1: delays are exactly the base
    return () => {
      globalThis.setTimeout = saved.setTimeout;
      globalThis.setInterval = saved.setInterval;
      globalThis.clearTimeout = saved.clearTimeout;
      globalThis.clearInterval = saved.clearInterval;
      Date.now = saved.dateNow;
      Math.random = saved.random;
    };
  }

  add(fn, delay, every) {
    const id = this.nextId++;
    this.timers.set(id, { at: this.now + Math.max(0, delay || 0), every: every, fn: fn });
    return id;
  }

  /** Runs every timer due within `ms`, in time order, moving the clock to each. */
  advance(ms) {
    const end = this.now + ms;
    for (;;) {
      let nextId = null;
      let next = null;
      for (const [id, timer] of this.timers) {
        if (timer.at <= end && (next === null || timer.at < next.at)) {
          nextId = id;
          next = timer;
        }
      }
      if (next === null) break;
      this.now = next.at;
      if (next.every !== null) next.at += Math.max(1, next.every);
      else this.timers.delete(nextId);
      next.fn();
    }
    this.now = end;
  }
}

/** Stands in for the browser's WebSocket: records what the client does, lets the test play the broker. */
class FakeWebSocket {
  constructor(url) {
    this.url = new URL(url);
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    FakeWebSocket.opened.push(this);
  }

  send(text) {
    this.sent.push(JSON.parse(text));
  }

  close(code, reason) {
    this.closedWith = { code: code, reason: reason };
    this.readyState = 3;
  }

  /** The broker's side: a message arrives. */
  receive(message) {
    this.readyState = 1;
    this.onmessage({ data: JSON.stringify(message) });
  }

  /** The broker's side: the connection ends. */
  drop(code, reason) {
    this.readyState = 3;
    this.onclose({ code: code, reason: reason || "" });
  }

  /** A failed handshake as Node 20's WebSocket reports it: an error event and no close event. */
  failWithoutClose() {
    this.readyState = 3;
    this.onerror({});
  }
}
FakeWebSocket.opened = [];

const BrokerClient = require(path.join(__dirname, "..", "..", "Public", "brokerd-client.js"));

/** A client on a fresh fake clock and socket list; `states` collects every onState call. */
function setUp(t, options) {
  const clock = new FakeClock();
  t.after(clock.install());
  globalThis.WebSocket = FakeWebSocket;
  FakeWebSocket.opened = [];
  const states = [];
  const client = new BrokerClient(
    "ws://broker.test/ws/stock/prices",
    // No wait for the broker's take-over unless a test is about it (resumeQuiet).
    Object.assign({ onState: (state, detail) => states.push({ state: state, detail: detail }), resumeQuiet: 0 }, options || {}),
  );
  t.after(() => client.close());
  const socket = () => FakeWebSocket.opened[FakeWebSocket.opened.length - 1];
  return { clock: clock, client: client, states: states, socket: socket };
}

const connected = (id, seq, resumed) => ({ type: "connected", client_id: id, seq: seq, resumed: resumed === true });

test("a fresh session sends every subscription, made before or after it opened", (t) => {
  const { client, socket } = setUp(t);
  client.subscribe("strategy", "volume_wave");
  assert.equal(socket().sent.length, 0, "nothing is sent before the session opens");
  socket().receive(connected("client_00000001", 1));
  client.subscribe("stock", "600519");
  assert.deepEqual(socket().sent, [
    { id: 1, type: "subscribe", subscription_type: "strategy", target: "volume_wave" },
    { id: 2, type: "subscribe", subscription_type: "stock", target: "600519" },
  ]);
  assert.equal(client.state, "connected");
});

test("after a drop it resumes with the session id and the highest seq seen", (t) => {
  const { clock, client, states, socket } = setUp(t, { initialDelay: 2000 });
  client.subscribe("strategy", "volume_wave");
  socket().receive(connected("client_0000abcd", 5));
  socket().receive({ type: "price_update", seq: 9, data: [] });
  socket().receive({ type: "pong", seq: 7 }); // an older seq does not move it back
  socket().drop(1006);

  assert.deepEqual(states[states.length - 1], {
    state: "backing_off",
    detail: { attempt: 1, delay: 2000, reason: "connection lost" },
  });
  const before = FakeWebSocket.opened.length;
  clock.advance(1999);
  assert.equal(FakeWebSocket.opened.length, before, "no attempt before the delay is over");
  clock.advance(1);
  assert.equal(socket().url.searchParams.get("resume"), "client_0000abcd");
  assert.equal(socket().url.searchParams.get("since"), "9");
});

test("after a loss the broker may not have seen, a resume waits until resumeQuiet after the last frame sent", (t) => {
  const { clock, client, states, socket } = setUp(t, { initialDelay: 2000, resumeQuiet: 5500 });
  socket().receive(connected("client_0000abcd", 5));
  clock.advance(1000);
  client.subscribe("stock", "600519"); // a frame 1 s before the drop
  clock.advance(1000);
  socket().drop(1006);
  assert.equal(states[states.length - 1].detail.delay, 4500, "5.5 s after the subscribe, not the 2 s backoff");
  const before = FakeWebSocket.opened.length;
  clock.advance(4499);
  assert.equal(FakeWebSocket.opened.length, before);
  clock.advance(1);
  assert.equal(socket().url.searchParams.get("resume"), "client_0000abcd");

  // A close the broker sent: it knows the session is gone, the backoff alone applies.
  socket().receive(connected("client_0000abcd", 6, true));
  client.subscribe("stock", "000001");
  socket().drop(1001);
  assert.equal(states[states.length - 1].detail.delay, 2000);
});

test("a failed handshake reported only as an error backs off at once, not after connectTimeout", (t) => {
  const { clock, states, socket } = setUp(t, { initialDelay: 2000, connectTimeout: 10000 });
  socket().failWithoutClose();
  clock.advance(100);
  assert.deepEqual(states[states.length - 1], {
    state: "backing_off",
    detail: { attempt: 1, delay: 2000, reason: "connection failed" },
  });
});

test("a subscription refused for good is not asked for again after a rate_limited, and the error names it", (t) => {
  const errors = [];
  const { clock, client, socket } = setUp(t, { rateLimitDelay: 1000, onError: (message) => errors.push(message) });
  socket().receive(connected("client_00000001", 1));
  client.subscribe("stock", "600519");
  client.subscribe("stock", "000001");
  socket().receive({ type: "error", error: "too_many_subscriptions", details: "limit 1", id: 1 });
  assert.deepEqual(errors[0].request, { type: "subscribe", subscription_type: "stock", target: "600519" });
  socket().receive({ type: "error", error: "rate_limited", details: "slow down", id: 2 });
  const sent = socket().sent.length;
  clock.advance(1000);
  assert.deepEqual(socket().sent.slice(sent), [{ id: 3, type: "subscribe", subscription_type: "stock", target: "000001" }],
    "only the one refused for the rate limit is asked for again");
  // Named again by the caller: asked for again.
  client.subscribe("stock", "600519");
  assert.deepEqual(socket().sent[socket().sent.length - 1], { id: 4, type: "subscribe", subscription_type: "stock", target: "600519" });
});

test("requests unanswered when the socket went are asked again on resume, whatever was confirmed before", (t) => {
  const { clock, client, socket } = setUp(t, { initialDelay: 2000 });
  client.subscribe("stock", "600519");
  socket().receive(connected("client_0000abcd", 5));
  socket().receive({ type: "subscribed", subscription_type: "stock", target: "600519", id: 1, seq: 6 });
  // Both reach the broker; their replies are lost with the socket.
  client.unsubscribe("stock", "600519");
  client.subscribe("stock", "000001");
  socket().drop(1006);
  // Offline, the user changes both back.
  client.subscribe("stock", "600519");
  client.unsubscribe("stock", "000001");
  clock.advance(2000);
  socket().receive(connected("client_0000abcd", 8, true));
  const sent = socket().sent.map((m) => m.type + " " + m.target).sort();
  assert.deepEqual(sent, ["subscribe 600519", "unsubscribe 000001"], "the broker may hold the opposite of what was confirmed");
});

/** The broker's reply to a subscribe or unsubscribe. */
const reply = (type, subscriptionType, target) => ({ type: type, subscription_type: subscriptionType, target: target });

test("a resumed session re-sends nothing but the changes made while offline", (t) => {
  const { clock, client, socket } = setUp(t);
  client.subscribe("strategy", "volume_wave");
  client.subscribe("stock", "600519");
  socket().receive(connected("client_00000001", 1));
  socket().receive(reply("subscribed", "strategy", "volume_wave"));
  socket().receive(reply("subscribed", "stock", "600519"));
  socket().drop(1006);
  client.unsubscribe("stock", "600519");
  client.subscribe("news", "all");
  clock.advance(2000);
  // The replay of what was missed comes after "connected"; its seq must not be skipped.
  socket().receive(connected("client_00000001", 40, true));
  assert.deepEqual(socket().sent, [
    { id: 1, type: "unsubscribe", subscription_type: "stock", target: "600519" },
    { id: 2, type: "subscribe", subscription_type: "news", target: "all" },
  ]);
  assert.equal(client.state, "resumed");
  assert.equal(client.lastSeq, 1, "the resumed connected message (seq 40) does not move the resume point");
});

test("alerts confirmed under the user's name are the alerts wanted", (t) => {
  const { clock, client, socket } = setUp(t);
  client.subscribe("alerts", "me");
  socket().receive(connected("client_00000001", 1));
  socket().receive(reply("subscribed", "alerts", "alice")); // the broker names the owner
  socket().drop(1006);
  clock.advance(2000);
  socket().receive(connected("client_00000001", 40, true));
  assert.deepEqual(socket().sent, [], "held already: nothing to send again, nothing to unsubscribe");
});

test("a refused resume starts a fresh session that subscribes to everything again", (t) => {
  const { clock, client, socket } = setUp(t);
  client.subscribe("strategy", "volume_wave");
  socket().receive(connected("client_00000001", 3));
  socket().receive(reply("subscribed", "strategy", "volume_wave"));
  socket().drop(1006);
  clock.advance(2000);
  socket().receive(connected("client_00000002", 1, false));
  assert.deepEqual(socket().sent, [{ id: 1, type: "subscribe", subscription_type: "strategy", target: "volume_wave" }]);
  assert.equal(client.clientId, "client_00000002");
});

test("a refused resume restarts the resume point at the fresh session's seq, even a lower one", (t) => {
  const { clock, client, socket } = setUp(t);
  socket().receive(connected("client_00000001", 30));
  socket().receive({ type: "news_update", seq: 33, data: {} });
  socket().drop(1006);
  clock.advance(2000);
  // Another node (or a new journal): its seqs count from its own start.
  socket().receive(connected("client_00000002", 1, false));
  assert.equal(client.lastSeq, 1);
  socket().receive({ type: "news_update", seq: 3, data: {} });
  socket().drop(1006);
  clock.advance(2000);
  assert.equal(socket().url.searchParams.get("since"), "3", "not 33: the new session would skip seqs 4 to 33");
});

test("a change sent just before a drop and never confirmed is sent again on resume", (t) => {
  const { clock, client, socket } = setUp(t);
  client.subscribe("news", "all");
  client.subscribe("stock", "000001");
  socket().receive(connected("client_00000001", 1));
  socket().receive(reply("subscribed", "news", "all"));
  socket().receive(reply("subscribed", "stock", "000001"));
  // Written to the socket, lost with it: the broker never saw them.
  client.subscribe("stock", "600519");
  client.unsubscribe("stock", "000001");
  socket().drop(1006);
  clock.advance(2000);
  socket().receive(connected("client_00000001", 5, true));
  assert.deepEqual(socket().sent, [
    { id: 1, type: "unsubscribe", subscription_type: "stock", target: "000001" },
    { id: 2, type: "subscribe", subscription_type: "stock", target: "600519" },
  ]);
});

/** The subscribe messages a socket carried, as "type:target". */
const subscribesSent = (socket) => socket.sent.filter((m) => m.type === "subscribe").map((m) => m.subscription_type + ":" + m.target);

const rateLimited = { type: "error", error: "rate_limited", details: "more than 20 messages per second (burst 40); slow down" };

test("a fresh session re-subscribes a window of requests at a time, the next as replies come", (t) => {
  const { client, socket } = setUp(t, { subscribeBatch: 1, subscribeWindow: 10 });
  const codes = Array.from({ length: 25 }, (_, i) => String(600000 + i));
  for (const code of codes) client.subscribe("stock", code);
  socket().receive(connected("client_00000001", 1));
  assert.equal(subscribesSent(socket()).length, 10, "no more than the window before a reply");
  socket().receive(reply("subscribed", "stock", codes[0]));
  socket().receive({ type: "error", error: "invalid_target", details: "no such code" });
  assert.equal(subscribesSent(socket()).length, 12, "each reply, an error too, makes room for one more");
  for (const code of codes.slice(1)) socket().receive(reply("subscribed", "stock", code));
  assert.deepEqual(subscribesSent(socket()), codes.map((code) => "stock:" + code), "each once, in order");
});

test("after rate_limited it waits rateLimitDelay, then sends again what is wanted and not held", (t) => {
  const { clock, client, socket } = setUp(t, { subscribeBatch: 1, subscribeWindow: 10, rateLimitDelay: 1000 });
  const codes = Array.from({ length: 12 }, (_, i) => String(600000 + i));
  for (const code of codes) client.subscribe("stock", code);
  socket().receive(connected("client_00000001", 1));
  for (const code of codes.slice(0, 5)) socket().receive(reply("subscribed", "stock", code));
  assert.equal(subscribesSent(socket()).length, 12);
  for (let i = 0; i < 7; i++) socket().receive(rateLimited);
  clock.advance(999);
  assert.equal(subscribesSent(socket()).length, 12, "nothing more while the broker's bucket refills");
  clock.advance(1);
  assert.deepEqual(subscribesSent(socket()).slice(12), codes.slice(5, 10).map((code) => "stock:" + code), "the refused ones, half a window first");
  for (const code of codes.slice(5)) socket().receive(reply("subscribed", "stock", code));
  assert.deepEqual(subscribesSent(socket()).slice(12), codes.slice(5).map((code) => "stock:" + code), "then the rest, once each");
  clock.advance(5000);
  assert.equal(subscribesSent(socket()).length, 19, "nothing more once the broker holds them all");
});

/** The broker's reply to the request with `id`, as a broker that knows request ids sends it. */
const answer = (message, id) => Object.assign({ id: id }, message);

test("subscription requests carry ids from 1 on each socket, and a reply answers the one it names", (t) => {
  const { clock, client, socket } = setUp(t, { subscribeBatch: 1, subscribeWindow: 2 });
  for (const code of ["600000", "600001", "600002"]) client.subscribe("stock", code);
  socket().receive(connected("client_00000001", 1));
  assert.deepEqual(socket().sent.map((m) => m.id), [1, 2]);
  socket().receive(answer(reply("subscribed", "stock", "600001"), 2));
  assert.deepEqual(socket().sent.map((m) => m.id), [1, 2, 3]);
  socket().receive(answer(reply("subscribed", "stock", "600001"), 2)); // already answered
  assert.equal(socket().sent.length, 3, "requests 1 and 3 are still unanswered");
  socket().drop(1006);
  clock.advance(2000);
  socket().receive(connected("client_00000001", 5, true));
  assert.deepEqual(socket().sent.map((m) => m.id), [1, 2], "a new socket counts from 1 again");
});

test("an error answering another message, an alert request or a ping, frees no room", (t) => {
  const { clock, client, socket } = setUp(t, { subscribeBatch: 1, subscribeWindow: 1, pingInterval: 30_000 });
  client.subscribe("stock", "600000");
  client.subscribe("stock", "600001");
  socket().receive(connected("client_00000001", 1));
  client.send({ type: "set_alert", code: "600519", condition: "above", threshold: -1 });
  client.send({ type: "remove_alert", rule_id: "r1", id: "mine" });
  clock.advance(30_000);
  assert.deepEqual(socket().sent.slice(1).map((m) => m.type + ":" + m.id), ["set_alert:0", "remove_alert:mine", "ping:0"]);
  socket().receive(answer({ type: "error", error: "invalid_threshold", details: "must be positive" }, 0));
  socket().receive(answer({ type: "error", error: "no_such_rule", details: "r1" }, "mine"));
  socket().receive(answer(rateLimited, 0));
  clock.advance(1000);
  assert.deepEqual(subscribesSent(socket()), ["stock:600000"], "the first subscribe is still unanswered");
  socket().receive(answer(reply("subscribed", "stock", "600000"), 1));
  assert.deepEqual(subscribesSent(socket()), ["stock:600000", "stock:600001"]);
});

test("after rate_limited the retry asks only for what is neither held nor in flight", (t) => {
  const { clock, client, socket } = setUp(t, { subscribeBatch: 1, subscribeWindow: 8, rateLimitDelay: 1000 });
  for (const code of ["600000", "600001", "600002"]) client.subscribe("stock", code);
  socket().receive(connected("client_00000001", 1));
  socket().receive(answer(reply("subscribed", "stock", "600000"), 1));
  socket().receive(answer(rateLimited, 2));
  clock.advance(1000);
  // 600002 is not held yet either, but its request is still to be answered.
  assert.deepEqual(socket().sent.slice(3), [{ id: 4, type: "subscribe", subscription_type: "stock", target: "600001" }]);
  socket().receive(answer(reply("subscribed", "stock", "600002"), 3));
  socket().receive(answer(reply("subscribed", "stock", "600001"), 4));
  clock.advance(5000);
  assert.deepEqual(subscribesSent(socket()), ["stock:600000", "stock:600001", "stock:600002", "stock:600001"], "each refused one once more");
});

test("a broker older than request ids answers in order: a reply without an id answers the oldest request", (t) => {
  const { clock, client, socket } = setUp(t, { subscribeBatch: 1, subscribeWindow: 8, rateLimitDelay: 1000 });
  for (const code of ["600000", "600001", "600002"]) client.subscribe("stock", code);
  socket().receive(connected("client_00000001", 1));
  socket().receive(reply("subscribed", "stock", "600000"));
  socket().receive({ type: "error", error: "resume_failed", details: "unprompted: answers nothing" });
  socket().receive(rateLimited); // refuses 600001, the oldest unanswered
  clock.advance(1000);
  assert.deepEqual(subscribesSent(socket()), ["stock:600000", "stock:600001", "stock:600002", "stock:600001"], "not 600002 again: still in flight");
  socket().receive(reply("subscribed", "stock", "600002"));
  socket().receive(reply("subscribed", "stock", "600001"));
  client.subscribe("stock", "600003");
  assert.deepEqual(subscribesSent(socket()).slice(4), ["stock:600003"], "the window never stalls");
});

test("a fresh session subscribes what it wants of one type in one request, confirmed one by one", (t) => {
  const { client, socket } = setUp(t, { subscribeWindow: 2 });
  const codes = Array.from({ length: 30 }, (_, i) => String(600000 + i));
  for (const code of codes) client.subscribe("stock", code);
  client.subscribe("news", "all");
  client.subscribe("alerts", "me");
  socket().receive(connected("client_00000001", 1));
  const sent = socket().sent.filter((m) => m.type === "subscribe");
  assert.deepEqual(sent[0], { id: 1, type: "subscribe", subscription_type: "stock", targets: codes });
  assert.deepEqual(sent[1], { id: 2, type: "subscribe", subscription_type: "news", target: "all" }, "one of a type goes alone");
  // The batch is answered by its last confirmation: only then is there room for the alerts request.
  for (const code of codes.slice(0, 29)) socket().receive(answer(reply("subscribed", "stock", code), 1));
  assert.equal(socket().sent.filter((m) => m.type === "subscribe").length, 2);
  socket().receive(answer(reply("subscribed", "stock", codes[29]), 1));
  assert.deepEqual(socket().sent.filter((m) => m.type === "subscribe")[2], { id: 3, type: "subscribe", subscription_type: "alerts", target: "me" });
});

test("a refused batch is asked for again one subscription per request, each to its own answer", (t) => {
  const errors = [];
  const { clock, client, socket } = setUp(t, { onError: (e) => errors.push(e) });
  for (const code of ["600000", "600001", "600002"]) client.subscribe("stock", code);
  socket().receive(connected("client_00000001", 1));
  socket().receive(answer({ type: "error", error: "not_authorized", details: "your token does not allow stock '600001'" }, 1));
  assert.equal(errors.length, 0, "the batch's refusal answers nothing the user asked");
  assert.deepEqual(subscribesSent(socket()).slice(1), ["stock:600000", "stock:600001", "stock:600002"]);
  assert.deepEqual(socket().sent.slice(1).map((m) => m.id), [2, 3, 4]);
  socket().receive(answer(reply("subscribed", "stock", "600000"), 2));
  socket().receive(answer({ type: "error", error: "not_authorized", details: "no" }, 3));
  socket().receive(answer(reply("subscribed", "stock", "600002"), 4));
  assert.equal(errors.length, 1);
  assert.deepEqual(errors[0].request, { type: "subscribe", subscription_type: "stock", target: "600001" }, "only it is given up");
  clock.advance(5000);
  assert.equal(socket().sent.length, 4, "nothing more");
  // A new socket batches again.
  socket().drop(1006);
  clock.advance(2000);
  socket().receive(connected("client_00000002", 7));
  assert.deepEqual(socket().sent[0].targets, ["600000", "600001", "600002"], "a fresh session may hold what the last refused");
});

test("subscribed and unsubscribed replies move the resume point to their seq, never back", (t) => {
  const { clock, client, socket } = setUp(t);
  client.subscribe("news", "all");
  socket().receive(connected("client_00000001", 5));
  // News published before the subscription (up to seq 11) must not be replayed on resume.
  socket().receive(Object.assign(reply("subscribed", "news", "all"), { seq: 12 }));
  assert.equal(client.lastSeq, 12);
  socket().receive(Object.assign(reply("unsubscribed", "stock", "600519"), { seq: 10 }));
  assert.equal(client.lastSeq, 12, "an older seq does not move it back");
  socket().receive(Object.assign(reply("unsubscribed", "news", "all"), { seq: 15 }));
  socket().drop(1006);
  clock.advance(2000);
  assert.equal(socket().url.searchParams.get("since"), "15");
});

test("delays double up to maxDelay, and it gives up after maxRetries attempts in a row", (t) => {
  const { clock, states, socket } = setUp(t, { initialDelay: 1000, maxDelay: 3000, maxRetries: 4 });
  const delays = [];
  for (let attempt = 1; attempt <= 5; attempt++) {
    socket().drop(1006);
    const last = states[states.length - 1];
    if (last.state === "backing_off") {
      delays.push(last.detail.delay);
      clock.advance(last.detail.delay);
    }
  }
  assert.deepEqual(delays, [1000, 2000, 3000, 3000]);
  assert.equal(states[states.length - 1].state, "failed");
  const opened = FakeWebSocket.opened.length;
  clock.advance(60_000);
  assert.equal(FakeWebSocket.opened.length, opened, "no attempt after failing");
});

test("no delay exceeds maxDelay, jitter included", (t) => {
  const { clock, states, socket } = setUp(t, { initialDelay: 1000, maxDelay: 3000, jitter: 0.2 });
  Math.random = () => 1; // the longest jitter: +20 %
  const delays = [];
  for (let attempt = 1; attempt <= 4; attempt++) {
    socket().drop(1006);
    const delay = states[states.length - 1].detail.delay;
    delays.push(delay);
    clock.advance(delay);
  }
  assert.deepEqual(delays, [1200, 2400, 3000, 3000], "not 3600: the cap holds after the jitter");
});

test("a session resets the attempt count", (t) => {
  const { clock, states, socket } = setUp(t, { initialDelay: 1000 });
  socket().drop(1006);
  clock.advance(1000);
  socket().drop(1006);
  assert.equal(states[states.length - 1].detail.delay, 2000);
  clock.advance(2000);
  socket().receive(connected("client_00000001", 1));
  socket().drop(1006);
  assert.equal(states[states.length - 1].detail.delay, 1000, "back to the first delay");
});

test("pings every pingInterval; a connection silent past pingInterval + pongTimeout is dropped", (t) => {
  const { clock, states, socket } = setUp(t, { pingInterval: 30_000, pongTimeout: 10_000 });
  const first = socket();
  first.receive(connected("client_00000001", 1));
  clock.advance(30_000);
  assert.deepEqual(first.sent, [{ id: 0, type: "ping" }]);
  first.receive({ type: "pong" });
  clock.advance(39_000);
  assert.equal(first.closedWith, null, "heard from 39 s ago: still alive");
  clock.advance(2_000);
  assert.notEqual(first.closedWith, null, "silent for 41 s: dropped");
  assert.equal(states[states.length - 1].state, "backing_off");
  assert.match(states[states.length - 1].detail.reason, /^no answer for 4\d s$/);
});

test("a socket that never says connected times out after connectTimeout", (t) => {
  const { clock, states, socket } = setUp(t, { connectTimeout: 10_000 });
  const first = socket();
  clock.advance(11_000);
  assert.notEqual(first.closedWith, null);
  assert.deepEqual(states[states.length - 1].detail.reason, "connect timed out");
});

test("a refused token fails at once instead of retrying", (t) => {
  const { clock, states, socket } = setUp(t, { token: "expired.jwt.token" });
  assert.equal(socket().url.searchParams.get("token"), "expired.jwt.token");
  socket().drop(1008, "invalid token: expired");
  assert.deepEqual(states[states.length - 1], { state: "failed", detail: { reason: "invalid token: expired" } });
  const opened = FakeWebSocket.opened.length;
  clock.advance(60_000);
  assert.equal(FakeWebSocket.opened.length, opened);
});

test("without a token provider, a session closed with 1008 token_expired fails at once", (t) => {
  const { clock, states, socket } = setUp(t, { token: "soon.expired.jwt" });
  socket().receive(connected("client_00000001", 1));
  socket().drop(1008, "token_expired");
  assert.deepEqual(states[states.length - 1], { state: "failed", detail: { reason: "token_expired" } });
  clock.advance(60_000);
  assert.equal(FakeWebSocket.opened.length, 1, "the same token cannot succeed");
});

/** Lets promises settle: a token provider's Promise resolves outside the fake clock. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** A token provider whose every call returns a Promise the test resolves or rejects. */
function pendingTokens() {
  const calls = [];
  const provider = () => new Promise((resolve, reject) => calls.push({ resolve: resolve, reject: reject }));
  return { calls: calls, provider: provider };
}

test("a token provider is asked before every attempt, and its token goes in ?token=", (t) => {
  let calls = 0;
  const { clock, socket } = setUp(t, { token: () => "jwt-" + ++calls });
  assert.equal(calls, 1);
  assert.equal(socket().url.searchParams.get("token"), "jwt-1");
  socket().drop(1006);
  assert.equal(calls, 1, "not asked while backing off");
  clock.advance(2000);
  assert.equal(calls, 2);
  assert.equal(socket().url.searchParams.get("token"), "jwt-2");
  socket().receive(connected("client_00000001", 1));
  socket().drop(1001);
  clock.advance(2000);
  assert.equal(calls, 3);
  assert.equal(socket().url.searchParams.get("token"), "jwt-3");
  assert.equal(socket().url.searchParams.get("resume"), "client_00000001");
});

test("an async token provider: the socket opens when its Promise resolves, connecting meanwhile", async (t) => {
  const tokens = pendingTokens();
  const { client, states, socket } = setUp(t, { token: tokens.provider });
  assert.equal(FakeWebSocket.opened.length, 0, "no socket before the token");
  assert.equal(client.state, "connecting");
  assert.deepEqual(states[states.length - 1].detail, { attempt: 1, resume: false, clientId: null });
  tokens.calls[0].resolve("async.jwt");
  await settle();
  assert.equal(FakeWebSocket.opened.length, 1);
  assert.equal(socket().url.searchParams.get("token"), "async.jwt");
  socket().receive(connected("client_00000001", 1));
  assert.equal(client.state, "connected");
});

test("a token provider that fails is a failed attempt: backed off and counted, then it connects", async (t) => {
  let calls = 0;
  const provider = () => {
    calls += 1;
    if (calls === 1) return Promise.reject(new Error("auth server down"));
    if (calls === 2) throw new Error("no session cookie");
    return Promise.resolve("good.jwt");
  };
  const { clock, client, states, socket } = setUp(t, { token: provider, initialDelay: 2000 });
  await settle();
  assert.deepEqual(states[states.length - 1], {
    state: "backing_off",
    detail: { attempt: 1, delay: 2000, reason: "token provider failed: auth server down" },
  });
  clock.advance(2000);
  assert.deepEqual(states[states.length - 1], {
    state: "backing_off",
    detail: { attempt: 2, delay: 4000, reason: "token provider failed: no session cookie" },
  });
  assert.equal(FakeWebSocket.opened.length, 0);
  clock.advance(4000);
  await settle();
  assert.equal(FakeWebSocket.opened.length, 1);
  assert.equal(socket().url.searchParams.get("token"), "good.jwt");
  socket().receive(connected("client_00000001", 1));
  assert.equal(client.state, "connected");
});

test("a token provider that keeps failing gives up after maxRetries attempts", async (t) => {
  const { clock, states } = setUp(t, { token: () => Promise.reject(new Error("auth server down")), maxRetries: 2 });
  for (const delay of [2000, 4000]) {
    await settle();
    assert.equal(states[states.length - 1].detail.delay, delay);
    clock.advance(delay);
  }
  await settle();
  assert.deepEqual(states[states.length - 1], {
    state: "failed",
    detail: { reason: "token provider failed: auth server down; gave up after 2 attempts" },
  });
  assert.equal(FakeWebSocket.opened.length, 0);
});

test("with a token provider, a 1008 token_expired reconnects with a fresh token and resumes the session", async (t) => {
  const tokens = pendingTokens();
  const { clock, client, states, socket } = setUp(t, { token: tokens.provider, initialDelay: 2000, resumeQuiet: 5500 });
  client.subscribe("news", "all");
  tokens.calls[0].resolve("first.jwt");
  await settle();
  socket().receive(Object.assign(connected("client_0000abcd", 5), { resume_token: "0123456789abcdef0123456789abcdef" }));
  socket().receive(answer(Object.assign(reply("subscribed", "news", "all"), { seq: 6 }), 1));
  client.send({ type: "list_alerts" }); // a frame just before the close
  socket().drop(1008, "token_expired");
  assert.deepEqual(states[states.length - 1], {
    state: "backing_off",
    detail: { attempt: 1, delay: 2000, reason: "token_expired" },
  }, "the broker closed it: no resumeQuiet wait");
  clock.advance(2000);
  assert.equal(tokens.calls.length, 2, "asked again for the reconnect");
  assert.equal(FakeWebSocket.opened.length, 1, "no socket before the fresh token");
  tokens.calls[1].resolve("fresh.jwt");
  await settle();
  const params = socket().url.searchParams;
  assert.equal(params.get("token"), "fresh.jwt");
  assert.equal(params.get("resume"), "client_0000abcd");
  assert.equal(params.get("resume_token"), "0123456789abcdef0123456789abcdef");
  assert.equal(params.get("since"), "6");
  socket().receive(connected("client_0000abcd", 9, true));
  assert.equal(client.state, "resumed");
  assert.deepEqual(socket().sent, [], "the broker kept the subscription");
});

test("a token provider that never answers times out after connectTimeout: backed off, asked again, then failed", async (t) => {
  const tokens = pendingTokens(); // never settled
  const { clock, client, states } = setUp(t, { token: tokens.provider, connectTimeout: 10_000, initialDelay: 2000, maxRetries: 2 });
  assert.equal(client.state, "connecting");
  clock.advance(9_999);
  assert.equal(client.state, "connecting", "still within connectTimeout");
  clock.advance(1);
  assert.deepEqual(states[states.length - 1], {
    state: "backing_off",
    detail: { attempt: 1, delay: 2000, reason: "token provider timed out after 10000 ms" },
  });
  assert.equal(tokens.calls.length, 1, "not asked while backing off");
  clock.advance(2000);
  assert.equal(tokens.calls.length, 2, "asked again at the next attempt");
  assert.equal(client.state, "connecting");
  clock.advance(10_000);
  assert.deepEqual(states[states.length - 1].detail, { attempt: 2, delay: 4000, reason: "token provider timed out after 10000 ms" });
  clock.advance(4000);
  assert.equal(tokens.calls.length, 3);
  clock.advance(10_000);
  assert.deepEqual(states[states.length - 1], {
    state: "failed",
    detail: { reason: "token provider timed out after 10000 ms; gave up after 2 attempts" },
  });
  clock.advance(60_000);
  assert.equal(tokens.calls.length, 3, "no attempt after failing");
  assert.equal(FakeWebSocket.opened.length, 0);
});

test("a token that comes after its attempt timed out opens no socket; the next attempt's opens one", async (t) => {
  const tokens = pendingTokens();
  const { clock, client, states, socket } = setUp(t, { token: tokens.provider, connectTimeout: 10_000, initialDelay: 2000 });
  clock.advance(10_000);
  assert.equal(client.state, "backing_off");
  tokens.calls[0].resolve("late.jwt"); // while backing off
  await settle();
  assert.equal(FakeWebSocket.opened.length, 0, "the timed-out attempt opens no socket");
  assert.equal(client.state, "backing_off");
  clock.advance(2000);
  assert.equal(tokens.calls.length, 2);
  tokens.calls[1].resolve("fresh.jwt");
  await settle();
  assert.equal(FakeWebSocket.opened.length, 1);
  assert.equal(socket().url.searchParams.get("token"), "fresh.jwt");
  clock.advance(5000); // the provider timer is gone: only the socket's watchdog runs now
  assert.equal(client.state, "connecting");
  socket().receive(connected("client_00000001", 1));
  assert.equal(client.state, "connected");
  assert.equal(states.filter((s) => s.state === "backing_off").length, 1, "only the provider's timeout");
  clock.advance(30_000); // within pingInterval + pongTimeout: the session stands
  assert.equal(client.state, "connected");
  assert.equal(FakeWebSocket.opened.length, 1, "only the one socket, once");
});

test("close() while the token provider is pending opens no socket; connect() asks it again", async (t) => {
  const tokens = pendingTokens();
  const { client, socket } = setUp(t, { token: tokens.provider });
  client.close();
  tokens.calls[0].resolve("late.jwt");
  await settle();
  assert.equal(FakeWebSocket.opened.length, 0);
  assert.equal(client.state, "closed");

  client.connect();
  client.connect(); // the first of these attempts is dropped too
  tokens.calls[1].resolve("dropped.jwt");
  tokens.calls[2].resolve("used.jwt");
  await settle();
  assert.equal(FakeWebSocket.opened.length, 1);
  assert.equal(socket().url.searchParams.get("token"), "used.jwt");
});

test("close() stops for good; send() refuses without a session", (t) => {
  const { clock, client, socket } = setUp(t);
  assert.equal(client.send({ type: "list_alerts" }), false);
  const first = socket();
  first.receive(connected("client_00000001", 1));
  assert.equal(client.send({ type: "list_alerts" }), true);
  client.close();
  assert.equal(client.state, "closed");
  assert.deepEqual(first.closedWith, { code: 1000, reason: "client closed" });
  const opened = FakeWebSocket.opened.length;
  clock.advance(120_000);
  assert.equal(FakeWebSocket.opened.length, opened);
});

/** A JWT-shaped token expiring at `expSeconds` (only its exp is read by the client), numbered `n`. */
const jwt = (expSeconds, n) =>
  "eyJhbGciOiJIUzI1NiJ9." + Buffer.from(JSON.stringify({ sub: "alice", exp: expSeconds, n: n })).toString("base64url") + ".sig";

test("a token provider's token is refreshed on the connection ahead of its exp, again and again", async (t) => {
  const hour = 3600;
  const issued = [];
  // The fake clock is installed before the client is made: Date.now() is its time.
  const provider = () => {
    issued.push(jwt(Math.floor(Date.now() / 1000) + hour, issued.length + 1));
    return issued[issued.length - 1];
  };
  // Pings unanswered for an hour would end the connection: none in this test.
  const { clock, client, socket } = setUp(t, { token: provider, pingInterval: 10 * hour * 1000 });
  socket().receive(connected("client_00000001", 1));
  assert.equal(issued.length, 1);
  const refreshes = () => socket().sent.filter((message) => message.type === "refresh");

  clock.advance(hour * 1000 - 30_000 - 1);
  await settle();
  assert.equal(refreshes().length, 0, "not before 30 s ahead of exp");
  clock.advance(1);
  await settle();
  assert.deepEqual(refreshes(), [{ type: "refresh", token: issued[1], id: 0 }]);

  // The next one from the fresh token's exp, on the same socket.
  clock.advance(hour * 1000 - 30_000);
  await settle();
  assert.deepEqual(refreshes().map((message) => message.token), [issued[1], issued[2]]);
  assert.equal(FakeWebSocket.opened.length, 1);
  assert.equal(client.state, "connected");
});

test("a token provider that gives no later token is asked again every 5 s until the exp, and nothing is sent", async (t) => {
  const stale = jwt(1_000 + 60, 1); // the fake clock starts at 1,000 s: a minute to live
  let calls = 0;
  const { clock, socket } = setUp(t, { token: () => { calls += 1; return stale; }, pingInterval: 600_000 });
  socket().receive(connected("client_00000001", 1));
  clock.advance(30_000); // halfway through its life (it lives shorter than twice refreshAhead)
  await settle();
  assert.equal(calls, 2);
  for (let n = 0; n < 5; n += 1) {
    clock.advance(5_000);
    await settle();
  }
  assert.equal(calls, 7, "every 5 s");
  clock.advance(60_000);
  await settle();
  assert.equal(calls, 7, "not once the token expired (the broker closes the connection then)");
  assert.deepEqual(socket().sent.filter((message) => message.type === "refresh"), []);
});

test("a fixed token, or refreshAhead null, is never refreshed on the connection", async (t) => {
  for (const options of [{ token: jwt(1_000 + 60, 1) }, { token: () => jwt(Math.floor(Date.now() / 1000) + 60, 2), refreshAhead: null }]) {
    const { clock, socket } = setUp(t, Object.assign({ pingInterval: 600_000 }, options));
    socket().receive(connected("client_00000001", 1));
    clock.advance(59_000);
    await settle();
    assert.deepEqual(socket().sent.filter((message) => message.type === "refresh"), [], JSON.stringify(Object.keys(options)));
  }
});
