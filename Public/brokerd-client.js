/**
 * brokerd-client.js: a browser client for brokerd's WebSocket protocol. No build step, no
 * dependencies; load it with <script src="/brokerd-client.js"></script> and use window.BrokerClient.
 *
 *   const client = new BrokerClient("ws://localhost:8000/ws/stock/prices", {
 *     token: jwt,                                   // optional, sent as ?token= (browsers cannot set headers);
 *                                                   // or a function returning it or a Promise of it (below)
 *     onState: (state, detail) => { ... },          // see "States" below
 *     onMessage: (message) => { ... },              // every server message, parsed
 *     onError: (message) => { ... },                // server {"type":"error"} messages (also given to onMessage)
 *   });
 *   client.subscribe("strategy", "volume_wave");   // kept across reconnects
 *   client.unsubscribe("strategy", "volume_wave");
 *   client.send({ type: "set_alert", code: "600519", condition: "above", threshold: 1900 });
 *   client.close();                                 // for good: no more reconnects
 *
 * url may be omitted (or null): then it is /ws/stock/prices on the page's own host, ws: or wss:.
 * Its query is kept on every reconnect: "/ws/stock/prices?price_interval=0.5" asks the broker for
 * at most one price update per subscription every 0.5 s (the "connected" message's price_interval
 * says what the connection got).
 *
 * States (client.state, and onState(state, detail)):
 *   "connecting"  a socket is opening; detail {attempt, resume, clientId (the session to resume)}
 *   "connected"   a fresh session; detail {clientId, seq}. Every subscription is (re)sent.
 *   "resumed"     the broker resumed the previous session; detail {clientId, seq}. It restored the
 *                 subscriptions itself and sends what was missed; only subscribe/unsubscribe
 *                 changes it has not confirmed (made offline, or lost with the old socket) are sent.
 *   "backing_off" waiting before the next attempt; detail {attempt, delay, reason}
 *   "failed"      gave up: maxRetries attempts in a row failed, or the broker refused a fixed token;
 *                 detail {reason}. Call connect() to start again.
 *   "closed"      close() was called.
 *
 * Behaviour (the seed client's): reconnects with jittered exponential backoff (initialDelay,
 * doubled per failed attempt, each delay +-jitter, never above maxDelay, at most maxRetries attempts
 * in a row); sends a "ping" every pingInterval and treats a connection that has been silent for
 * pingInterval + pongTimeout as dead; reconnects with ?resume=<client_id>&since=<last seq seen> and
 * re-subscribes everything when the broker answers "resumed": false (resume refused or expired).
 *
 * token may be a function (a token provider): it is called before every connection attempt, the
 * first and each reconnect, and returns the token or a Promise of it; while that is pending the
 * client is "connecting" (close() meanwhile opens no socket). A provider that throws or rejects
 * fails the attempt like a lost connection: backed off, counted toward maxRetries, with the reason
 * "token provider failed: <message>"; so does one that does not answer within connectTimeout,
 * with the reason "token provider timed out after <connectTimeout> ms" (a token that comes later
 * is dropped). A fixed token the broker refuses (close 1008 with a reason naming the token,
 * token_expired say) fails the client at once, since the same token cannot succeed; with a
 * provider the client reconnects instead, asks it for a fresh token and resumes the session.
 *
 * With a token provider, a connection's token is also renewed in place: refreshAhead ms before it
 * expires (read from its exp claim; never sooner than halfway through its life) the provider is
 * asked for the next token, which goes to the broker as {"type":"refresh","token":...}, so the broker
 * does not close the connection at the old exp (its "refreshed" answer reaches onMessage). A
 * provider that fails, or gives no token expiring later, is asked again every 5 s until the token
 * expires; then the broker closes the connection and the reconnect asks it once more. refreshAhead
 * null turns this off (the connection is then closed at exp and the session resumed).
 *
 * A subscription the broker refuses for another reason than its rate limit (too_many_subscriptions,
 * an invalid target...) is not asked for again until subscribe() names it again or a fresh session
 * opens; the error handed to onError carries "request": {type, subscription_type, target}.
 *
 * Subscribe and unsubscribe requests go out at most subscribeWindow at a time unanswered, the next
 * as replies come back, so re-subscribing many at once stays under the broker's per-client rate
 * limit; after a "rate_limited" refusal it waits rateLimitDelay, then sends again what the broker
 * does not hold as wanted and is not asked for already, with the window halved for the rest of the
 * connection. Each request carries an "id" (1, 2, 3... on each connection) and a reply answers the
 * request whose id it echoes; a broker older than request ids echoes none and answers in order, so
 * then a reply answers the oldest request. Every other message send() sends goes out with "id": 0
 * unless it has one: give yours strings, say, so no reply to them is taken for a request's.
 *
 * Subscribes of one type waiting together go out as one request ("targets", up to subscribeBatch):
 * a fresh session re-subscribes a watchlist of 100 stocks with one message, not 100 paced over
 * seconds by the rate limit. The broker confirms each with its own "subscribed" echoing the batch's
 * id, and takes a batch all or none: a refused batch (one target not allowed, the subscription
 * limit, a broker older than "targets") is asked for again one subscription per request, so each
 * gets its own answer; onError gets those refusals, not the batch's. subscribeBatch 1 sends one
 * subscription per request.
 *
 * Options (milliseconds): initialDelay 2000, maxDelay 30000, jitter 0.2 (a fraction), maxRetries 10,
 * pingInterval 30000, pongTimeout 10000, connectTimeout 10000, subscribeWindow 10 (requests),
 * subscribeBatch 1000 (subscriptions per request), rateLimitDelay 1000, refreshAhead 30000 (or null), resumeQuiet 5500 (after a loss the broker may not have seen, a resume waits
 * this long after the last frame sent: the broker takes a connected session over only once that
 * connection was silent for 5 s, and starts a fresh one otherwise), token (a string, or a function:
 * see above), onState, onMessage, onError.
 */
(function (global) {
  "use strict";

  const DEFAULTS = {
    initialDelay: 2000,
    maxDelay: 30000,
    jitter: 0.2,
    maxRetries: 10,
    pingInterval: 30000,
    pongTimeout: 10000,
    connectTimeout: 10000,
    subscribeWindow: 10,
    subscribeBatch: 1000,
    rateLimitDelay: 1000,
    resumeQuiet: 5500,
    refreshAhead: 30000,
    token: null,
    onState: null,
    onMessage: null,
    onError: null,
  };

  /** The broker's endpoint on the page's own host. */
  function defaultURL() {
    const scheme = global.location && global.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + global.location.host + "/ws/stock/prices";
  }

  // A client has one alerts subscription, its own: the broker confirms alerts/me as
  // alerts/<its user>, so every alerts target is one key.
  function key(type, target) {
    return type + "\u0000" + (type === "alerts" ? "me" : target);
  }

  /** The exp of a JWT in milliseconds, or null (not a JWT, or no numeric exp). Not verified: the broker does that. */
  function tokenExpiry(token) {
    if (typeof token !== "string") return null;
    const parts = token.split(".");
    if (parts.length !== 3) return null;
    try {
      const base64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
      const claims = JSON.parse(atob(base64 + "===".slice((base64.length + 3) % 4)));
      return claims !== null && typeof claims.exp === "number" ? claims.exp * 1000 : null;
    } catch (error) {
      return null;
    }
  }

  // The id of every message but subscription requests (those count from 1 on each socket).
  const UNTRACKED_ID = 0;

  // Errors the broker sends on its own, not in answer to a request: they free no room in the window.
  const UNPROMPTED_ERRORS = new Set(["resume_failed", "resume_incomplete", "invalid_since", "invalid_price_interval", "subscription_dropped"]);

  class BrokerClient {
    /**
     * Connects at once.
     * @param {string|null} url the WebSocket endpoint, e.g. ws://localhost:8000/ws/stock/prices
     * @param {object} options see the file header
     */
    constructor(url, options) {
      this.url = url || defaultURL();
      this.options = Object.assign({}, DEFAULTS, options || {});
      /** The current state, one of the names in the file header. */
      this.state = "closed";
      /** The session id the broker gave; sent back as ?resume= after a reconnect. */
      this.clientId = null;
      /** Its resume token from "connected"; sent back as &resume_token= (a resume needs it). */
      this.resumeToken = null;
      /**
       * The highest seq seen in this session; sent back as &since=. The broker delivers seqs in
       * order, so every bar, news item and alert up to it has arrived. A resumed session's
       * "connected" does not move it: the replay of what was missed, older than that seq, is
       * still to come. A fresh session's "connected" sets it, lower or not: seqs of a session
       * another broker (or journal) gave mean nothing to this one.
       */
      this.lastSeq = null;
      this._subscriptions = new Map(); // key -> {type, target}: what the caller wants
      this._held = new Map(); // key -> {type, target}: what the broker confirmed for this session
      // key -> error: subscriptions the broker refused for good (too_many_subscriptions, an invalid
      // target...): not asked for again until subscribe() names them again or a fresh session opens.
      this._declined = new Map();
      // Keys of requests sent and never answered before the socket went: the broker may or may
      // not have carried them out, so a resumed session asks again for what is wanted of them.
      this._uncertain = new Map(); // key -> {type, target}
      this._socket = null;
      this._attempt = 0; // failed attempts in a row
      this._opening = 0; // counts connection attempts (and close()): a token arriving for an older one is dropped
      this._timers = { retry: null, ping: null, watchdog: null, resend: null, token: null, refresh: null };
      this._token = null; // the token the current socket holds, and when it was taken (for refreshes)
      this._tokenTakenAt = 0;
      this._lastHeard = 0;
      this._lastSent = null; // when a frame last went out, on any socket of the session
      this._session = false; // a "connected" message arrived on the current socket
      this._queued = []; // subscribe/unsubscribe messages waiting for room in the window
      this._inFlight = new Map(); // id -> subscribe/unsubscribe message sent on this socket, not answered yet; oldest first
      this._nextId = 1; // the id of the next subscribe/unsubscribe message on this socket
      this._refused = false; // a "rate_limited" came: nothing more is sent until the resend timer
      this._window = this.options.subscribeWindow; // halved by each refusal, until the next socket
      this._unbatched = new Set(); // keys asked for one per request on this socket: a batch holding them was refused
      this._awaiting = new Map(); // id -> how many "subscribed" a batch in flight still waits for
      this.connect();
    }

    /** The subscriptions the client keeps, as [{type, target}]. */
    get subscriptions() {
      return Array.from(this._subscriptions.values());
    }

    /** Subscribes now if connected, else as soon as a session is open; kept across reconnects. */
    subscribe(type, target) {
      const k = key(type, target);
      this._subscriptions.set(k, { type: type, target: target });
      this._declined.delete(k); // asked again: try again
      this._change("subscribe", type, target);
    }

    /** Drops a subscription (no-op for one never made). */
    unsubscribe(type, target) {
      const k = key(type, target);
      if (!this._subscriptions.delete(k)) return;
      this._change("unsubscribe", type, target);
    }

    /**
     * Sends any protocol message (set_alert, list_alerts, ...); false when there is no session.
     * One without an "id" goes out with "id": 0, which no subscription request has, so an error
     * answering it is never taken for the answer to one.
     */
    send(message) {
      if (!this._session || !this._socket || this._socket.readyState !== 1) return false;
      this._socket.send(JSON.stringify(message.id === undefined ? Object.assign({ id: UNTRACKED_ID }, message) : message));
      this._lastSent = Date.now();
      return true;
    }

    /** Opens a connection (again, after "failed" or "closed"). */
    connect() {
      this._clearTimers();
      this._drop(1000, "reconnecting");
      this._attempt = 0;
      this._open();
    }

    /** Closes the connection for good: no reconnect. */
    close() {
      this._opening += 1; // a token still to come opens no socket
      this._clearTimers();
      this._drop(1000, "client closed");
      this._setState("closed", {});
    }

    // Internals

    _change(op, type, target) {
      // Not connected, or lost on the way: the next session sends what it lacks (see _opened).
      if (!this._session) return;
      this._enqueue({ type: op, subscription_type: type, target: target });
      this._sendQueued();
    }

    /** Queues a subscription request; one still waiting for the same subscription is replaced. */
    _enqueue(request) {
      const k = key(request.subscription_type, request.target);
      this._queued = this._queued.filter((queued) => key(queued.subscription_type, queued.target) !== k);
      this._queued.push(request);
    }

    /** Sends queued requests while fewer than subscribeWindow are unanswered, unless refused
     * lately; each with an id, which the broker echoes in its reply. */
    _sendQueued() {
      while (!this._refused && this._queued.length > 0 && this._inFlight.size < this._window) {
        const request = Object.assign({ id: this._nextId }, this._batch(this._queued.shift()));
        if (!this.send(request)) return;
        this._inFlight.set(request.id, request);
        if (request.targets) this._awaiting.set(request.id, request.targets.length);
        this._nextId += 1;
      }
    }

    /** The request, or when it is a subscribe that may go in a batch and others of its type are
     * queued, one request for it and them (taken out of the queue), up to subscribeBatch. */
    _batch(request) {
      const limit = Math.min(this.options.subscribeBatch, 1000); // the most targets the broker takes
      const batchable = (queued) =>
        queued.type === "subscribe" && queued.subscription_type !== "alerts" &&
        !this._unbatched.has(key(queued.subscription_type, queued.target));
      if (limit <= 1 || !batchable(request)) return request;
      const targets = [request.target];
      const rest = [];
      for (const queued of this._queued) {
        if (targets.length < limit && batchable(queued) && queued.subscription_type === request.subscription_type) {
          targets.push(queued.target);
        } else {
          rest.push(queued);
        }
      }
      if (targets.length === 1) return request;
      this._queued = rest;
      return { type: "subscribe", subscription_type: request.subscription_type, targets: targets };
    }

    /** The subscriptions a request is about: its target, or the targets of a batch. */
    _targetsOf(request) {
      return request.targets || [request.target];
    }

    /** Whether a request of this type for this subscription is sent and not answered yet. */
    _isInFlight(type, subscriptionType, target) {
      const k = key(subscriptionType, target);
      for (const request of this._inFlight.values()) {
        if (request.type === type && this._targetsOf(request).some((t) => key(request.subscription_type, t) === k)) return true;
      }
      return false;
    }

    /** Queues what makes the session hold what is wanted: unsubscribes first (they free room under
     * the broker's subscription limit), then the subscriptions not held. A request still in flight
     * is left to its answer: sent again, it would go out twice. */
    _enqueueMissing() {
      for (const [k, s] of this._held) {
        if (!this._subscriptions.has(k) && !this._isInFlight("unsubscribe", s.type, s.target)) {
          this._enqueue({ type: "unsubscribe", subscription_type: s.type, target: s.target });
        }
      }
      for (const [k, s] of this._subscriptions) {
        if (!this._held.has(k) && !this._declined.has(k) && !this._isInFlight("subscribe", s.type, s.target)) {
          this._enqueue({ type: "subscribe", subscription_type: s.type, target: s.target });
        }
      }
    }

    /**
     * A reply answers the request whose id it echoes, freeing its room in the window; one with
     * another id (an alert request's, a ping's) frees none. A broker older than request ids echoes
     * none and answers in request order: then a reply answers the oldest request in flight, unless
     * it is an error the broker sends unprompted. Returns true for an error that refused a batch
     * now asked for one subscription per request: it answers nothing the user asked (each
     * refusal that matters answers one of those requests), so onError does not get it.
     */
    _answered(message) {
      let request;
      let askedAlone = false;
      if (message.id !== undefined) {
        // A batch is answered by the last of its confirmations (or by a refusal).
        const awaited = this._awaiting.get(message.id);
        if (message.type === "subscribed" && awaited > 1) {
          this._awaiting.set(message.id, awaited - 1);
          return;
        }
        this._awaiting.delete(message.id);
        request = this._inFlight.get(message.id);
        this._inFlight.delete(message.id);
      } else if (message.type === "error" && UNPROMPTED_ERRORS.has(message.error)) {
        return;
      } else {
        const oldest = this._inFlight.keys().next();
        if (!oldest.done) {
          request = this._inFlight.get(oldest.value);
          this._inFlight.delete(oldest.value);
        }
      }
      if (message.type === "error" && request && request.targets) {
        message.request = { type: request.type, subscription_type: request.subscription_type, targets: request.targets };
        if (message.error !== "rate_limited") {
          // All or none: each is asked for alone, ahead of the rest, to its own answer.
          const alone = request.targets.filter((target) => {
            const k = key(request.subscription_type, target);
            this._unbatched.add(k);
            return !this._queued.some((queued) => key(queued.subscription_type, queued.target) === k);
          });
          this._queued = alone.map((target) => ({ type: "subscribe", subscription_type: request.subscription_type, target: target }))
            .concat(this._queued);
          askedAlone = true;
        }
      } else if (message.type === "error" && request) {
        // The request an error answers, for onError: which subscription it was.
        message.request = { type: request.type, subscription_type: request.subscription_type, target: request.target };
        const k = key(request.subscription_type, request.target);
        if (request.type === "unsubscribe" && message.error === "not_subscribed") this._held.delete(k);
        if (request.type === "subscribe" && message.error !== "rate_limited") this._declined.set(k, message.error);
      }
      if (message.type === "error" && message.error === "rate_limited" && !this._refused) {
        // The broker closes a client refused again and again for 2 s without a 0.5 s pause:
        // stop for rateLimitDelay, let its bucket refill, then ask again for whatever it does not
        // hold yet and is not asked for already. Replies outrun the bucket, so a round ends with a
        // window of refusals: a smaller window wastes fewer requests round after round.
        this._refused = true;
        this._window = Math.max(1, Math.floor(this._window / 2));
        this._timers.resend = setTimeout(() => {
          this._timers.resend = null;
          this._refused = false;
          this._enqueueMissing();
          this._sendQueued();
        }, this.options.rateLimitDelay);
      }
      this._sendQueued();
      return askedAlone;
    }

    /** A connection attempt: the token first (a provider's may take a while), then the socket. */
    _open() {
      const opening = ++this._opening;
      // False once close() or connect() came (from onState or the provider, or while it was pending).
      const current = () => opening === this._opening;
      this._setState("connecting", { attempt: this._attempt + 1, resume: this.clientId !== null, clientId: this.clientId });
      if (!current()) return;
      let token = this.options.token;
      if (typeof token !== "function") {
        this._dial(token);
        return;
      }
      const failed = (error) => this._lost("token provider failed: " + (error && typeof error.message === "string" ? error.message : String(error)));
      try {
        token = token();
      } catch (error) {
        if (current()) failed(error);
        return;
      }
      if (!token || typeof token.then !== "function") {
        if (current()) this._dial(token);
        return;
      }
      // A provider that never answers (a hung fetch to an auth endpoint, say) would leave the client
      // "connecting" for good: connectTimeout applies to it as to a socket. A token that comes after
      // this attempt timed out opens no socket (the attempt is no longer current).
      const timeout = this.options.connectTimeout;
      this._timers.token = setTimeout(() => {
        if (!current()) return;
        this._timers.token = null;
        this._opening += 1;
        this._lost("token provider timed out after " + timeout + " ms");
      }, timeout);
      // Only the current attempt's timer is this attempt's to clear: an older one's was cleared already.
      const settled = () => {
        clearTimeout(this._timers.token);
        this._timers.token = null;
      };
      token.then(
        (value) => { if (current()) { settled(); this._dial(value); } },
        (error) => { if (current()) { settled(); failed(error); } },
      );
    }

    _dial(token) {
      this._token = token;
      this._tokenTakenAt = Date.now();
      const url = new URL(this.url, global.location ? global.location.href : undefined);
      if (token) url.searchParams.set("token", token);
      if (this.clientId !== null) {
        url.searchParams.set("resume", this.clientId);
        if (this.lastSeq !== null) url.searchParams.set("since", String(this.lastSeq));
        if (this.resumeToken !== null) url.searchParams.set("resume_token", this.resumeToken);
      }
      let socket;
      try {
        socket = new WebSocket(url.toString());
      } catch (error) {
        this._lost("cannot open: " + error.message);
        return;
      }
      this._socket = socket;
      this._session = false;
      this._lastHeard = Date.now();
      socket.onmessage = (event) => this._receive(event.data);
      socket.onclose = (event) => {
        if (socket !== this._socket) return;
        const reason = event.reason || (event.code === 1006 ? "connection lost" : "closed (" + event.code + ")");
        // The broker refuses a bad token with 1008 and a reason naming it: retrying the same token
        // cannot help. A provider is asked for a fresh one at the next attempt (see _open).
        if (event.code === 1008 && /token/.test(event.reason) && typeof this.options.token !== "function") {
          this._socket = null;
          this._clearTimers();
          this._setState("failed", { reason: event.reason });
          return;
        }
        // A close the broker sent: it knows the connection is gone, no need to wait (see _lost).
        this._lost(reason, event.code !== 1006);
      };
      // Browsers follow an error with a close event (handled above, with its code and reason);
      // Node 20's WebSocket fires only the error when the handshake fails, which left the attempt
      // waiting out connectTimeout. A close event that comes within 100 ms still decides.
      socket.onerror = () => {
        setTimeout(() => {
          if (socket === this._socket && socket.readyState === 3) this._lost("connection failed");
        }, 100);
      };
      // Dead-connection watchdog: also covers a socket that opens but never says "connected".
      this._timers.watchdog = setInterval(() => this._checkAlive(), 1000);
    }

    _checkAlive() {
      const silence = Date.now() - this._lastHeard;
      const limit = this._session ? this.options.pingInterval + this.options.pongTimeout : this.options.connectTimeout;
      if (silence > limit) this._lost(this._session ? "no answer for " + Math.round(silence / 1000) + " s" : "connect timed out");
    }

    _receive(text) {
      this._lastHeard = Date.now();
      let message;
      try {
        message = JSON.parse(text);
      } catch (error) {
        return; // not a protocol message
      }
      if (message.type === "connected") {
        if (message.resumed !== true && typeof message.seq === "number") this.lastSeq = message.seq;
      } else if (typeof message.seq === "number" && (this.lastSeq === null || message.seq > this.lastSeq)) {
        this.lastSeq = message.seq;
      }
      if (message.type === "subscribed" || message.type === "unsubscribed") {
        const k = key(message.subscription_type, message.target);
        if (message.type === "subscribed") this._held.set(k, { type: message.subscription_type, target: message.target });
        else this._held.delete(k);
      }
      const askedAlone =
        (message.type === "subscribed" || message.type === "unsubscribed" || message.type === "error") && this._answered(message);
      if (message.type === "connected") this._opened(message);
      if (message.type === "error" && !askedAlone && this.options.onError) this.options.onError(message);
      if (this.options.onMessage) this.options.onMessage(message);
    }

    _opened(message) {
      const resumed = message.resumed === true;
      this.clientId = message.client_id;
      this.resumeToken = typeof message.resume_token === "string" ? message.resume_token : null;
      this._session = true;
      this._attempt = 0;
      // A resumed session kept what the broker confirmed (it restored those subscriptions); a
      // fresh one holds nothing. Send what is wanted and not held, and drop what is held and no
      // longer wanted: changes made while offline, and any lost on the way before the drop.
      // A window at a time: all at once would run into the broker's rate limit.
      if (!resumed) {
        this._held.clear();
        this._declined.clear(); // a fresh session may hold what the last one refused
      } else {
        // Asked again whatever "held" says: an unsubscribe the broker carried out before its
        // reply was lost left a subscription held here that the broker dropped, and the other way round.
        for (const [k, s] of this._uncertain) {
          const op = this._subscriptions.has(k) ? "subscribe" : "unsubscribe";
          if (op === "subscribe" && this._declined.has(k)) continue;
          this._enqueue({ type: op, subscription_type: s.type, target: s.target });
        }
      }
      this._uncertain.clear();
      this._enqueueMissing();
      this._sendQueued();
      clearInterval(this._timers.ping);
      this._timers.ping = setInterval(() => this.send({ type: "ping" }), this.options.pingInterval);
      this._scheduleRefresh();
      this._setState(resumed ? "resumed" : "connected", { clientId: this.clientId, seq: message.seq });
    }

    /** With a token provider: renews the socket's token ahead of its exp (see the file header). */
    _scheduleRefresh() {
      clearTimeout(this._timers.refresh);
      this._timers.refresh = null;
      const expiry = tokenExpiry(this._token);
      if (typeof this.options.token !== "function" || this.options.refreshAhead === null || expiry === null) return;
      const now = Date.now();
      if (now >= expiry) return;
      const moment = expiry - Math.min(this.options.refreshAhead, Math.max(0, expiry - this._tokenTakenAt) / 2);
      this._timers.refresh = setTimeout(() => this._refresh(expiry), Math.max(0, moment - now));
    }

    /** Asks the provider for a token expiring after `expiry` and sends it as "refresh" on this socket. */
    _refresh(expiry) {
      this._timers.refresh = null;
      // Expired: the broker closes the connection now, and the reconnect asks the provider.
      if (Date.now() >= expiry) return;
      const socket = this._socket;
      const again = () => {
        if (socket !== this._socket || Date.now() >= expiry) return;
        this._timers.refresh = setTimeout(() => this._refresh(expiry), 5000);
      };
      let answer;
      try {
        answer = Promise.resolve(this.options.token());
      } catch (error) {
        again();
        return;
      }
      // The provider has connectTimeout to answer, as when connecting; a later token is dropped.
      let timedOut = false;
      const timer = setTimeout(() => { timedOut = true; again(); }, this.options.connectTimeout);
      answer.then(
        (fresh) => {
          if (timedOut) return;
          clearTimeout(timer);
          if (socket !== this._socket) return;
          const next = tokenExpiry(fresh);
          if (next === null || next <= expiry || !this.send({ type: "refresh", token: fresh })) {
            again();
            return;
          }
          this._token = fresh;
          this._tokenTakenAt = Date.now();
          this._scheduleRefresh();
        },
        () => {
          if (timedOut) return;
          clearTimeout(timer);
          again();
        },
      );
    }

    /**
     * The connection is gone (or given up on): back off, then try again, or fail. After a loss the
     * broker may not have seen (no close frame from it), a resume waits until `resumeQuiet` after
     * the last frame sent (see the options).
     */
    _lost(reason, closedByBroker) {
      this._clearTimers();
      this._drop(4000, reason);
      this._attempt += 1;
      if (this._attempt > this.options.maxRetries) {
        this._setState("failed", { reason: reason + "; gave up after " + this.options.maxRetries + " attempts" });
        return;
      }
      const o = this.options;
      const base = Math.min(o.initialDelay * Math.pow(2, this._attempt - 1), o.maxDelay);
      // Clamped after the jitter: maxDelay is the longest wait, not the longest before jitter.
      let delay = Math.min(Math.round(base * (1 - o.jitter + 2 * o.jitter * Math.random())), o.maxDelay);
      if (!closedByBroker && this.clientId !== null && this._lastSent !== null) {
        delay = Math.max(delay, this._lastSent + o.resumeQuiet - Date.now());
      }
      this._setState("backing_off", { attempt: this._attempt, delay: delay, reason: reason });
      this._timers.retry = setTimeout(() => this._open(), delay);
    }

    _drop(code, reason) {
      const socket = this._socket;
      this._socket = null;
      this._session = false;
      // What was queued or unanswered is the next session's to reconcile (see _opened).
      for (const request of this._inFlight.values()) {
        for (const target of this._targetsOf(request)) {
          this._uncertain.set(key(request.subscription_type, target), { type: request.subscription_type, target: target });
        }
      }
      this._queued = [];
      this._inFlight = new Map();
      this._nextId = 1;
      this._refused = false;
      this._window = this.options.subscribeWindow;
      this._unbatched = new Set();
      this._awaiting = new Map();
      if (!socket) return;
      socket.onmessage = socket.onclose = socket.onerror = null;
      try {
        socket.close(code, reason.slice(0, 120));
      } catch (error) {
        // already closing
      }
    }

    _clearTimers() {
      clearTimeout(this._timers.retry);
      clearInterval(this._timers.ping);
      clearInterval(this._timers.watchdog);
      clearTimeout(this._timers.resend);
      clearTimeout(this._timers.token);
      clearTimeout(this._timers.refresh);
      this._timers = { retry: null, ping: null, watchdog: null, resend: null, token: null, refresh: null };
    }

    _setState(state, detail) {
      this.state = state;
      if (this.options.onState) this.options.onState(state, detail);
    }
  }

  global.BrokerClient = BrokerClient;
  if (typeof module === "object" && module.exports) module.exports = BrokerClient;
})(typeof window !== "undefined" ? window : globalThis);
