// A small graphql-transport-ws client (the protocol of the graphql-ws library):
// connection_init carries the token; subscribe/next/error/complete; ping/pong both ways.
// It reconnects with exponential backoff and jitter and re-sends every live subscription,
// asking each for fresh variables, so a subscription can resume from its last cursor.

const PROTOCOL = "graphql-transport-ws";
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15000;
const ACK_TIMEOUT_MS = 10000;
const HEARTBEAT_MS = 20000;
const PONG_TIMEOUT_MS = 10000;
const CLOSE_UNAUTHORIZED = 4403;
const CLOSE_NO_PONG = 4499;

export function backoffDelay(attempt) {
  // "Equal jitter": half the exponential delay, plus a random share of the other half.
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

export class GraphQLSocket {
  #url;
  #token;
  #handlers;
  #ws = null;
  #acked = false;
  #stopped = false;
  #failures = 0;
  #ops = new Map();
  #nextId = 1;
  #timers = { retry: 0, ack: 0, heartbeat: 0, pong: 0 };

  /** handlers: onState(state), onFailures(count), onUnauthorized() */
  constructor(url, token, handlers) {
    this.#url = url;
    this.#token = token;
    this.#handlers = handlers;
  }

  start() {
    this.#stopped = false;
    this.#open();
  }

  stop() {
    this.#stopped = true;
    this.#clearTimers();
    this.#ops.clear();
    if (this.#ws) this.#ws.close(1000, "Signed out");
    this.#ws = null;
  }

  /** Retry now instead of waiting out the backoff (the browser says we are back online). */
  retryNow() {
    if (this.#stopped || this.#ws) return;
    clearTimeout(this.#timers.retry);
    this.#open();
  }

  /** variables: a function, called at every (re)subscribe. Returns an unsubscribe function. */
  subscribe(query, variables, sink) {
    const id = String(this.#nextId++);
    this.#ops.set(id, { query, variables, sink });
    if (this.#acked) this.#sendSubscribe(id);
    return () => {
      if (this.#ops.delete(id) && this.#acked) this.#send({ id, type: "complete" });
    };
  }

  #open() {
    this.#handlers.onState("connecting");
    const ws = new WebSocket(this.#url, PROTOCOL);
    this.#ws = ws;
    ws.addEventListener("open", () => {
      this.#send({ type: "connection_init", payload: { authorization: `Bearer ${this.#token}` } });
    });
    ws.addEventListener("message", (event) => this.#receive(event.data));
    ws.addEventListener("close", (event) => this.#closed(ws, event.code));
    this.#timers.ack = setTimeout(() => ws.close(4408, "No connection_ack"), ACK_TIMEOUT_MS);
  }

  #receive(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      this.#ws?.close(4400, "Invalid message");
      return;
    }
    const op = this.#ops.get(message.id);
    switch (message.type) {
      case "connection_ack":
        return this.#acknowledged();
      case "ping":
        return this.#send({ type: "pong" });
      case "pong":
        return clearTimeout(this.#timers.pong);
      case "next":
        return op?.sink.next(message.payload);
      case "error":
        this.#ops.delete(message.id);
        return op?.sink.error(message.payload);
      case "complete":
        this.#ops.delete(message.id);
        return op?.sink.complete?.();
    }
  }

  #acknowledged() {
    clearTimeout(this.#timers.ack);
    this.#acked = true;
    this.#failures = 0;
    this.#handlers.onFailures(0);
    this.#handlers.onState("connected");
    for (const id of this.#ops.keys()) this.#sendSubscribe(id);
    this.#heartbeat();
  }

  #closed(ws, code) {
    if (ws !== this.#ws) return;
    const wasAcked = this.#acked;
    this.#ws = null;
    this.#acked = false;
    this.#clearTimers();
    if (this.#stopped) return;
    this.#handlers.onState("disconnected");
    if (code === CLOSE_UNAUTHORIZED) {
      this.#handlers.onUnauthorized();
      return;
    }
    const attempt = wasAcked ? 0 : this.#failures;
    if (!wasAcked) this.#handlers.onFailures(++this.#failures);
    this.#timers.retry = setTimeout(() => this.#open(), backoffDelay(attempt));
  }

  // Our own ping notices a connection that died without a close frame (sleep, network switch).
  #heartbeat() {
    this.#timers.heartbeat = setTimeout(() => {
      this.#send({ type: "ping" });
      this.#timers.pong = setTimeout(() => this.#ws?.close(CLOSE_NO_PONG), PONG_TIMEOUT_MS);
      this.#heartbeat();
    }, HEARTBEAT_MS);
  }

  #sendSubscribe(id) {
    const { query, variables } = this.#ops.get(id);
    this.#send({ id, type: "subscribe", payload: { query, variables: variables() } });
  }

  #send(message) {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(message));
  }

  #clearTimers() {
    for (const timer of Object.values(this.#timers)) clearTimeout(timer);
  }
}
