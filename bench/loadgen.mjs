// The load generator: one Node process (pinned to its own core by the driver)
// holding thousands of subscribers (graphql-transport-ws WebSockets, or
// graphql-sse streams for TaskBell), firing triggers and timing deliveries on
// one clock.
//
// It reads one JSON command per stdin line and answers each with one JSON line
// on stdout: {"id": <command id>, "ok": true, "result": {...}} or {"id", "ok": false, "error"}.
// Commands: target, connect, close, burst, steady, mutations, quit (see `commands` below).
//
// A trigger is a real `updateTaskStatus` mutation over HTTP for TaskBell, or a
// `publish` request on the peer's control socket. Each event is identified by
// (taskId, task.version), read straight from the received frame's bytes.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import readline from 'node:readline';

import WebSocket from 'ws';

const STATUSES = ['TODO', 'IN_PROGRESS', 'IN_REVIEW', 'COMPLETED'];
const KEY_SPAN = 1_000_000; // event key = taskId * KEY_SPAN + version
const MUTATION = `mutation Move($taskId: ID!, $status: TaskStatus!) {
  updateTaskStatus(taskId: $taskId, status: $status) { id status version }
}`;

const now = () => performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (...args) => console.error('[loadgen]', ...args);

// ---------------------------------------------------------------- statistics

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

function summary(values) {
  const sorted = Float64Array.from(values).sort();
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : null,
  };
}

// ---------------------------------------------------------------- the target

const state = {
  kind: null, // 'taskbell' | 'peer'
  wsUrl: null,
  httpUrl: null,
  statsUrl: null,
  serverPid: null,
  clockTicks: 100,
  tokens: [], // subscriber tokens, used round-robin
  crowdTokens: [], // S7: one token per member of the crowd (TaskBell only)
  mutationToken: null,
  query: null,
  variables: {},
  tasks: [], // [{id, status, version, inflight}] the triggers cycle through
  control: null,
  nextTask: 0,
  claimed: new Set(), // event keys already attributed to a trigger
};

const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });

function httpRequest(method, url, body, headers, timeoutMs) {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, agent, headers, timeout: timeoutMs }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode, body: Buffer.concat(chunks).toString() }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end(body);
  });
}

class Control {
  // Request/response over the peer's control WebSocket.
  constructor(url) {
    this.url = url;
    this.pending = new Map();
    this.rid = 0;
  }

  open() {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(this.url, { perMessageDeflate: false });
      this.ws.on('open', resolve);
      this.ws.on('error', reject);
      this.ws.on('message', (raw) => {
        const reply = JSON.parse(raw.toString());
        const waiter = this.pending.get(reply.rid);
        if (waiter) {
          this.pending.delete(reply.rid);
          waiter(reply);
        }
      });
    });
  }

  request(message, timeoutMs = 30_000) {
    const rid = ++this.rid;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new Error(`control ${message.op} timed out`));
      }, timeoutMs);
      this.pending.set(rid, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.ws.send(JSON.stringify({ ...message, rid }));
    });
  }
}

async function serverSubscriptions() {
  // Several workers answer /ws/stats each for itself: then only the probe events tell.
  if (state.kind === 'taskbell' && !state.statsUrl) return null;
  if (state.kind === 'taskbell') {
    const response = await httpRequest('GET', state.statsUrl, undefined, {}, 5000);
    return JSON.parse(response.body).total_subscriptions;
  }
  return (await state.control.request({ op: 'stats' })).subscriptions;
}

function serverCpuSeconds() {
  if (!state.serverPid) return null;
  // A server with workers is its parent and every worker (serverPids), counted as one.
  const pids = state.serverPids ?? [state.serverPid];
  let total = 0;
  for (const pid of pids) {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    total += (Number(fields[11]) + Number(fields[12])) / state.clockTicks; // utime + stime
  }
  return total;
}

function ownCpuSeconds() {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

// ---------------------------------------------------------------- subscribers

const clients = new Set();
const counters = {
  unexpectedCloses: 0,
  protocolErrors: 0,
  errorSamples: [],
  presenceDeliveries: 0, // S7: presenceChanged messages received, all clients
  presenceBytes: 0,
};
// S7: the presence subscription some clients add beside their taskStatusUpdated.
const PRESENCE_QUERY = 'subscription BenchPresence { presenceChanged { projectId joined { id } left { id } } }';
let phase = null; // the measurement that deliveries are currently recorded into

function noteError(text) {
  counters.protocolErrors += 1;
  if (counters.errorSamples.length < 5) counters.errorSamples.push(String(text).slice(0, 300));
}

const DATA_MARK = Buffer.from('"taskStatusUpdated"');
const ERRORS_MARK = Buffer.from('"errors"');
const TASK_ID_MARK = Buffer.from('"taskId"');
const VERSION_MARK = Buffer.from('"version"');

// The integer after `"name":` (optionally quoted, spaces allowed), read from the bytes.
function intAfter(buf, at) {
  let i = at;
  while (i < buf.length && (buf[i] === 0x3a || buf[i] === 0x20 || buf[i] === 0x22)) i++;
  let value = 0;
  let digits = 0;
  while (i < buf.length && buf[i] >= 0x30 && buf[i] <= 0x39) {
    value = value * 10 + (buf[i] - 0x30);
    i++;
    digits++;
  }
  return digits ? value : -1;
}

// Hot path: a data frame is recognised and keyed without JSON.parse.
function eventKey(buf) {
  if (buf.length < 200 || buf.indexOf(DATA_MARK) < 0 || buf.indexOf(ERRORS_MARK) >= 0) return -1;
  const t = buf.indexOf(TASK_ID_MARK);
  const v = buf.lastIndexOf(VERSION_MARK);
  if (t < 0 || v < 0) return -1;
  const taskId = intAfter(buf, t + TASK_ID_MARK.length);
  const version = intAfter(buf, v + VERSION_MARK.length);
  return taskId < 0 || version < 0 ? -1 : taskId * KEY_SPAN + version;
}

// One delivery of event `key` to `client`. Per stream, the count and the sum
// of the keys it got are kept as well: a stream that got every event exactly
// once has both equal to the phase's totals, whatever the other streams got.
function record(key, at, size, client) {
  const p = phase;
  if (p === null) {
    counters.stray = (counters.stray ?? 0) + 1;
    return;
  }
  if (client.phase !== p) {
    client.phase = p;
    client.count = 0;
    client.keySum = 0;
  }
  client.count += 1;
  client.keySum += key;
  let receipt = p.receipts.get(key);
  if (receipt === undefined) {
    receipt = { count: 0, times: p.keepTimes ? new Float64Array(p.n) : null };
    p.receipts.set(key, receipt);
  }
  if (receipt.times !== null && receipt.count < p.n) receipt.times[receipt.count] = at;
  receipt.count += 1;
  p.received += 1;
  p.bytes += size;
  if (p.firstReceive === null) p.firstReceive = at;
  p.lastReceive = at;
  if (p.onProgress !== null) p.onProgress(at);
}

// Server-to-client WebSocket frames (RFC 6455: never masked) from a socket's
// byte stream: text messages (reassembled if fragmented), ping -> pong, close.
class FrameReader {
  constructor(onText, onPing, onClose) {
    this.onText = onText;
    this.onPing = onPing;
    this.onClose = onClose;
    this.rest = null;
    this.fragments = null;
  }

  push(chunk) {
    const buf = this.rest === null ? chunk : Buffer.concat([this.rest, chunk]);
    let at = 0;
    while (buf.length - at >= 2) {
      let length = buf[at + 1] & 0x7f;
      let header = 2;
      if (length === 126) {
        if (buf.length - at < 4) break;
        length = buf.readUInt16BE(at + 2);
        header = 4;
      } else if (length === 127) {
        if (buf.length - at < 10) break;
        length = Number(buf.readBigUInt64BE(at + 2));
        header = 10;
      }
      if (buf.length - at < header + length) break;
      this.frame(buf[at], buf.subarray(at + header, at + header + length));
      at += header + length;
    }
    this.rest = at < buf.length ? buf.subarray(at) : null;
  }

  frame(first, payload) {
    const fin = (first & 0x80) !== 0;
    const opcode = first & 0x0f;
    if (opcode === 0x1 && fin) this.onText(payload);
    else if (opcode === 0x1 || opcode === 0x0) {
      (this.fragments ??= []).push(Buffer.from(payload));
      if (fin) {
        const whole = Buffer.concat(this.fragments);
        this.fragments = null;
        this.onText(whole);
      }
    } else if (opcode === 0x9) this.onPing(Buffer.from(payload));
    else if (opcode === 0x8) this.onClose();
  }
}

class Client {
  // options: { tokens (round-robin by index), presence (also subscribe to presenceChanged) }
  constructor(index, options = {}) {
    this.index = index;
    this.tokens = options.tokens ?? state.tokens;
    this.presence = options.presence ?? false;
    this.presenceAt = -1; // when the first presence message (the state) arrived
    this.lastEventAt = -1;
    this.acked = false;
    this.closed = false;
    this.closing = false;
    this.phase = null; // per-stream counts, see record()
    this.count = 0;
    this.keySum = 0;
  }

  // Resolves true once connection_ack arrived and subscribe was sent, false on failure.
  open(timeoutMs) {
    return new Promise((resolve) => {
      let settled = false;
      const settle = (ok, why) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!ok) {
          this.failure = why;
          this.ws.terminate();
        }
        resolve(ok);
      };
      const timer = setTimeout(() => settle(false, 'timeout before connection_ack'), timeoutMs);
      this.ws = new WebSocket(state.wsUrl, 'graphql-transport-ws', {
        perMessageDeflate: false,
        skipUTF8Validation: true,
        handshakeTimeout: timeoutMs,
      });
      this.ws.on('open', () => {
        // `ws` did the handshake and still sends; incoming frames are read by
        // FrameReader, which costs far less CPU per frame than ws's receiver.
        const socket = this.ws._socket;
        socket.removeAllListeners('data');
        const reader = new FrameReader(
          (buf) => this.onMessage(buf, settle),
          (payload) => this.ws.pong(payload),
          () => this.ws.terminate(),
        );
        socket.on('data', (chunk) => reader.push(chunk));
        const token = this.tokens[this.index % this.tokens.length];
        this.ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
      });
      this.ws.on('error', (error) => settle(false, error.message));
      this.ws.on('close', (code, reason) => {
        this.closed = true;
        clients.delete(this);
        if (!this.closing && settled) counters.unexpectedCloses += 1;
        settle(false, `closed ${code} ${reason}`);
      });
    });
  }

  onMessage(buf, settle) {
    const at = now();
    const key = eventKey(buf);
    if (key >= 0) {
      this.lastEventAt = at;
      record(key, at, buf.length, this);
      return;
    }
    this.control(buf, settle);
  }

  control(buf, settle) {
    let message;
    try {
      message = JSON.parse(buf.toString());
    } catch {
      noteError(`unparsable frame: ${buf.toString().slice(0, 100)}`);
      return;
    }
    if (message.type === 'connection_ack') {
      this.acked = true;
      this.ws.send(
        JSON.stringify({ id: '1', type: 'subscribe', payload: { query: state.query, variables: state.variables } }),
      );
      if (this.presence) {
        this.ws.send(JSON.stringify({ id: '2', type: 'subscribe', payload: { query: PRESENCE_QUERY } }));
      }
      settle(true);
    } else if (message.type === 'ping') {
      this.ws.send('{"type":"pong"}');
    } else if (message.type === 'next' && message.id === '2' && !message.payload.errors) {
      counters.presenceDeliveries += 1;
      counters.presenceBytes += buf.length;
      if (this.presenceAt < 0) this.presenceAt = now();
    } else if (message.type === 'next' || message.type === 'error') {
      noteError(JSON.stringify(message.payload));
    } else if (message.type === 'complete') {
      noteError('server completed the subscription');
    }
  }

  close() {
    this.closing = true;
    if (!this.closed) this.ws.close(1000);
  }

  terminate() {
    this.ws.terminate();
  }
}

// ---------------------------------------------------------------- graphql-sse subscribers

// graphql-sse, distinct connections mode, on raw sockets: one `POST /graphql`
// per subscriber, answered by a `text/event-stream` body in HTTP/1.1 chunked
// coding. Node's http client would parse it too, but pushes every chunk
// through a Readable stream; like FrameReader, these two small parsers cost
// little per event, so the generator keeps up with the server.
const CRLF = Buffer.from('\r\n');
const BLANK_LINE = Buffer.from('\r\n\r\n'); // ends an SSE message (TaskBell writes CRLF line ends)
const NEXT_EVENT = Buffer.from('event: next\r\n');
const COMPLETE_EVENT = Buffer.from('event: complete');
const DATA_FIELD = Buffer.from('\r\ndata: ');

function startsWith(buf, prefix) {
  return buf.length >= prefix.length && buf.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

// HTTP/1.1 chunked transfer coding (RFC 9112 §7.1) -> each chunk's bytes, in order.
class ChunkedReader {
  constructor(onData, onEnd, onError) {
    this.onData = onData;
    this.onEnd = onEnd;
    this.onError = onError;
    this.rest = null;
    this.ended = false;
  }

  push(chunk) {
    if (this.ended) return;
    const buf = this.rest === null ? chunk : Buffer.concat([this.rest, chunk]);
    let at = 0;
    for (;;) {
      const eol = buf.indexOf(CRLF, at);
      if (eol < 0) break;
      let size = 0;
      let digits = 0;
      for (let i = at; i < eol; i++) {
        const c = buf[i] | 0x20; // lower-case hex letters; ';' (a chunk extension) stops
        const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
        if (digit < 0) break;
        size = size * 16 + digit;
        digits++;
      }
      if (digits === 0) {
        this.ended = true;
        this.onError(`bad chunk size line: ${buf.toString('latin1', at, Math.min(eol, at + 40))}`);
        return;
      }
      if (size === 0) {
        this.ended = true; // the last chunk; trailers are not read
        this.onEnd();
        return;
      }
      const start = eol + 2;
      if (buf.length < start + size + 2) break;
      this.onData(buf.subarray(start, start + size));
      at = start + size + 2;
    }
    this.rest = at < buf.length ? buf.subarray(at) : null;
  }
}

// A text/event-stream body -> each message's bytes (without the blank line).
class SseReader {
  constructor(onMessage) {
    this.onMessage = onMessage;
    this.rest = null;
  }

  push(data) {
    const buf = this.rest === null ? data : Buffer.concat([this.rest, data]);
    let at = 0;
    let end;
    while ((end = buf.indexOf(BLANK_LINE, at)) >= 0) {
      if (end > at) this.onMessage(buf.subarray(at, end));
      at = end + BLANK_LINE.length;
    }
    this.rest = at < buf.length ? buf.subarray(at) : null;
  }
}

class SseClient {
  constructor(index) {
    this.index = index;
    this.lastEventAt = -1;
    this.acked = false; // the response head arrived: 200, text/event-stream
    this.closed = false;
    this.closing = false;
    this.phase = null; // per-stream counts, see record()
    this.count = 0;
    this.keySum = 0;
    this.socket = null;
  }

  // Resolves true once the server answered 200 with an event stream, false on failure.
  open(timeoutMs) {
    return new Promise((resolve) => {
      let settled = false;
      const settle = (ok, why) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!ok) {
          this.failure = why;
          this.socket.destroy();
        }
        resolve(ok);
      };
      const timer = setTimeout(() => settle(false, 'timeout before the response head'), timeoutMs);
      const url = new URL(state.httpUrl);
      const token = state.tokens[this.index % state.tokens.length];
      const body = Buffer.from(JSON.stringify({ query: state.query, variables: state.variables }));
      const head =
        `POST /graphql HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\n` +
        `Accept: text/event-stream\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
      let pending = null; // response head bytes until the blank line
      const socket = (this.socket = net.connect({ host: url.hostname, port: Number(url.port) }));
      socket.on('connect', () => socket.write(Buffer.concat([Buffer.from(head, 'latin1'), body])));
      const onHead = (chunk) => {
        const buf = pending === null ? chunk : Buffer.concat([pending, chunk]);
        const end = buf.indexOf(BLANK_LINE);
        if (end < 0) {
          pending = buf;
          return;
        }
        const lines = buf.toString('latin1', 0, end).split('\r\n');
        const status = Number(lines[0].split(' ')[1]);
        const headers = new Map(
          lines.slice(1).map((line) => {
            const colon = line.indexOf(':');
            return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim().toLowerCase()];
          }),
        );
        const rest = buf.subarray(end + BLANK_LINE.length);
        if (status !== 200 || !(headers.get('content-type') ?? '').startsWith('text/event-stream')) {
          const sample = rest.toString().slice(0, 160);
          settle(false, `HTTP ${status} ${headers.get('content-type')}: ${sample}`);
          return;
        }
        const sse = new SseReader((message) => this.onMessage(message));
        const feed =
          headers.get('transfer-encoding') === 'chunked'
            ? new ChunkedReader(
                (data) => sse.push(data),
                () => this.ended('the server ended the stream'),
                (why) => this.ended(why),
              )
            : sse;
        socket.removeListener('data', onHead);
        socket.on('data', (data) => feed.push(data));
        this.acked = true;
        settle(true);
        if (rest.length) feed.push(rest);
      };
      socket.on('data', onHead);
      socket.on('error', (error) => settle(false, error.message));
      socket.on('close', () => {
        this.closed = true;
        clients.delete(this);
        if (!this.closing && settled) counters.unexpectedCloses += 1;
        settle(false, 'closed before the response head');
      });
    });
  }

  // Hot path: an `event: next` message is keyed from its bytes, like a WebSocket frame.
  onMessage(buf) {
    if (buf[0] === 0x3a) return; // a comment: ": connected", ": ping"
    const at = now();
    if (startsWith(buf, NEXT_EVENT)) {
      const data = buf.indexOf(DATA_FIELD);
      const key = data < 0 ? -1 : eventKey(buf.subarray(data + DATA_FIELD.length));
      if (key >= 0) {
        this.lastEventAt = at;
        record(key, at, buf.length, this);
        return;
      }
      noteError(`next without an event: ${buf.toString().slice(0, 200)}`);
    } else if (startsWith(buf, COMPLETE_EVENT)) {
      noteError('server completed the subscription');
    } else {
      noteError(`unexpected SSE message: ${buf.toString().slice(0, 100)}`);
    }
  }

  ended(why) {
    if (!this.closing) noteError(why);
    this.socket.destroy();
  }

  // Closing the connection is how a graphql-sse client ends its subscription.
  close() {
    this.closing = true;
    if (!this.closed) this.socket.destroy();
  }

  terminate() {
    this.socket.destroy();
  }
}

// ---------------------------------------------------------------- triggers

function pickTask() {
  // Prefer a task with no mutation in flight, so its next status is certain.
  const count = state.tasks.length;
  for (let step = 0; step < count; step++) {
    const task = state.tasks[(state.nextTask + step) % count];
    if (task.inflight === 0) {
      state.nextTask = (state.nextTask + step + 1) % count;
      return task;
    }
  }
  const task = state.tasks[state.nextTask];
  state.nextTask = (state.nextTask + 1) % count;
  return task;
}

const NOOP = 'no-op (status unchanged)';

// Fire one event; resolves to {key, sentAt, rtt} or {error}.
async function trigger(timeoutMs) {
  const task = pickTask();
  const oldStatus = task.predicted;
  const newStatus = STATUSES[(STATUSES.indexOf(oldStatus) + 1) % STATUSES.length];
  task.predicted = newStatus;
  task.inflight += 1;
  const sentAt = now();
  try {
    let key;
    if (state.kind === 'taskbell') {
      const body = JSON.stringify({ query: MUTATION, variables: { taskId: String(task.id), status: newStatus } });
      const response = await httpRequest(
        'POST',
        `${state.httpUrl}/graphql`,
        body,
        { 'content-type': 'application/json', authorization: `Bearer ${state.mutationToken}` },
        timeoutMs,
      );
      const parsed = JSON.parse(response.body);
      const moved = parsed.data?.updateTaskStatus;
      if (!moved) throw new Error(`mutation failed: ${response.status} ${response.body.slice(0, 200)}`);
      key = Number(moved.id) * KEY_SPAN + moved.version;
    } else {
      task.version += 1;
      key = task.id * KEY_SPAN + task.version;
      await state.control.request({ op: 'publish', taskId: task.id, version: task.version, oldStatus, newStatus }, timeoutMs);
    }
    if (state.claimed.has(key)) return { error: NOOP, sentAt };
    state.claimed.add(key);
    return { key, sentAt, rtt: now() - sentAt };
  } catch (error) {
    return { error: error.message, sentAt };
  } finally {
    task.inflight -= 1;
  }
}

// ---------------------------------------------------------------- phases

function openClients() {
  return [...clients].filter((client) => client.acked && !client.closed);
}

function newPhase(keepTimes) {
  const members = openClients();
  return {
    n: members.length,
    members,
    keepTimes,
    receipts: new Map(),
    received: 0,
    bytes: 0,
    firstReceive: null,
    lastReceive: null,
    onProgress: null,
  };
}

// Count what arrived against what was triggered; latencies when times were kept.
function tally(p, triggers) {
  let delivered = 0;
  const latencies = [];
  const claimedKeys = new Set();
  for (const t of triggers) {
    if (t.key === undefined) continue;
    claimedKeys.add(t.key);
    const receipt = p.receipts.get(t.key);
    if (!receipt) continue;
    const got = Math.min(receipt.count, p.n);
    delivered += got;
    if (receipt.times) for (let i = 0; i < got; i++) latencies.push(receipt.times[i] - t.sentAt);
  }
  let unattributed = 0; // deliveries of events whose trigger never answered
  let duplicates = 0;
  for (const [key, receipt] of p.receipts) {
    if (!claimedKeys.has(key)) unattributed += Math.min(receipt.count, p.n);
    duplicates += Math.max(0, receipt.count - p.n);
  }
  // A no-op (two triggers raced on one task and left its status as it was)
  // makes no event by design: nothing is owed for it.
  const noops = triggers.filter((t) => t.error === NOOP).length;
  const expected = (triggers.length - noops) * p.n;
  const errors = triggers.filter((t) => t.error);
  // Per stream: every event that was owed, each exactly once (count and key sum).
  const perStream = triggers.length - noops;
  let keySum = 0;
  for (const key of p.receipts.keys()) keySum += key;
  let streamsIncomplete = 0;
  let fewest = null;
  let most = null;
  for (const client of p.members) {
    const count = client.phase === p ? client.count : 0;
    const sum = client.phase === p ? client.keySum : 0;
    if (count !== perStream || sum !== keySum) streamsIncomplete += 1;
    fewest = fewest === null ? count : Math.min(fewest, count);
    most = most === null ? count : Math.max(most, count);
  }
  return {
    subscribers: p.n,
    events: triggers.length,
    triggerErrors: errors.length,
    triggerErrorSamples: [...new Set(errors.map((t) => t.error))].slice(0, 3),
    expected,
    delivered: delivered + unattributed,
    lost: Math.max(0, expected - delivered - unattributed),
    unattributed,
    duplicates,
    perStreamExpected: perStream,
    perStreamFewest: fewest,
    perStreamMost: most,
    streamsIncomplete,
    avgFrameBytes: p.received ? Math.round(p.bytes / p.received) : null,
    latencies,
    triggerRtt: summary(triggers.filter((t) => t.rtt !== undefined).map((t) => t.rtt)),
  };
}

// Wait until `done()` or the deadline; resolves with whether it was done.
function waitFor(done, deadline, stallMs, p) {
  return new Promise((resolve) => {
    let lastCount = -1;
    let lastChange = now();
    const check = () => {
      const t = now();
      if (done()) return finish(true);
      if (p.received !== lastCount) {
        lastCount = p.received;
        lastChange = t;
      }
      if (t >= deadline || (stallMs && t - lastChange > stallMs)) return finish(false);
    };
    const timer = setInterval(check, 20);
    const finish = (ok) => {
      clearInterval(timer);
      p.onProgress = null;
      resolve(ok);
    };
    p.onProgress = () => {
      if (done()) finish(true);
    };
    check();
  });
}

const commands = {
  async target(cmd) {
    Object.assign(state, {
      kind: cmd.kind,
      wsUrl: cmd.wsUrl,
      httpUrl: cmd.httpUrl,
      statsUrl: cmd.statsUrl ?? null,
      serverPid: cmd.serverPid,
      serverPids: cmd.serverPids ?? null,
      clockTicks: cmd.clockTicks ?? 100,
      tokens: cmd.tokens ?? ['bench'],
      crowdTokens: cmd.crowdTokens ?? [],
      mutationToken: cmd.mutationToken ?? null,
      query: cmd.query,
      variables: cmd.variables ?? {},
      tasks: cmd.tasks.map((t) => ({ id: Number(t.id), predicted: t.status, version: t.version, inflight: 0 })),
      nextTask: 0,
    });
    if (cmd.controlUrl) {
      state.control = new Control(cmd.controlUrl);
      await state.control.open();
    }
    return { kind: state.kind };
  },

  // Open `n` more subscribers, at most `concurrency` handshakes at a time; then
  // wait until the server itself reports them all subscribed. `transport` is
  // 'ws' (graphql-transport-ws) or 'sse' (graphql-sse, TaskBell only).
  // S7: `crowd` uses one crowd token per socket; every `presenceEvery`-th socket also
  // subscribes to presenceChanged, and counts as subscribed once that sent its first state.
  async connect({
    n,
    concurrency = 200,
    timeoutMs = 60_000,
    clientTimeoutMs = 20_000,
    transport = 'ws',
    crowd = false,
    presenceEvery = 0,
  }) {
    const Kind = { ws: Client, sse: SseClient }[transport];
    if (!Kind) throw new Error(`unknown transport ${transport}`);
    const options = (i) => ({
      tokens: crowd ? state.crowdTokens : state.tokens,
      presence: presenceEvery > 0 && i % presenceEvery === 0,
    });
    const presence0 = counters.presenceDeliveries;
    const baseline = openClients().length;
    const cpu0 = serverCpuSeconds();
    const started = now();
    const deadline = started + timeoutMs;
    let next = 0;
    let failed = 0;
    const failures = new Map();
    const worker = async () => {
      while (next < n && now() < deadline) {
        const index = next++;
        const client = new Kind(baseline + index, options(index));
        clients.add(client);
        if (!(await client.open(clientTimeoutMs))) {
          failed += 1;
          failures.set(client.failure, (failures.get(client.failure) ?? 0) + 1);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
    const ackedAt = now();
    const want = openClients().length;
    const watchers = openClients().filter((c) => c.presence);
    let reported = 0;
    while (now() < deadline) {
      reported = await serverSubscriptions();
      if (reported === null || reported >= want + watchers.length) break;
      await sleep(25);
    }
    const reportedAt = now();
    // A server may count a subscription before it can deliver to it, so the
    // sockets are "subscribed" once each has received an event: probe events
    // go out, one at a time, until every open socket has had one.
    const fresh = () => openClients().filter((c) => c.lastEventAt < started);
    let probes = 0;
    while (fresh().length > 0 && now() < deadline) {
      probes += 1;
      const sent = trigger(Math.max(1000, deadline - now()));
      while (fresh().length > 0 && now() < deadline && now() - reportedAt < probes * 2000) await sleep(10);
      await Promise.race([sent, sleep(Math.max(0, deadline - now()))]);
    }
    while (watchers.some((c) => c.presenceAt < 0 && !c.closed) && now() < deadline) await sleep(10);
    const subscribedAt = now();
    const unprobed = fresh().length;
    const presenceWithoutState = watchers.filter((c) => c.presenceAt < 0).length;
    return {
      transport,
      requested: n,
      open: want,
      failed,
      failures: Object.fromEntries([...failures].slice(0, 5)),
      serverSubscriptions: reported,
      probes,
      withoutEvent: unprobed,
      allSubscribed: unprobed === 0 && failed === 0 && presenceWithoutState === 0,
      presenceSubscribers: watchers.length,
      presenceWithoutState,
      presenceDeliveries: counters.presenceDeliveries - presence0,
      ackedSeconds: (ackedAt - started) / 1000,
      serverReportedSeconds: (reportedAt - started) / 1000,
      subscribedSeconds: (subscribedAt - started) / 1000,
      serverCpuMsPerSocket: want > baseline ? ((serverCpuSeconds() - cpu0) * 1000) / (want - baseline) : null,
    };
  },

  // Close subscribers until `keep` remain, then wait for the server to agree.
  async close({ keep = 0, timeoutMs = 30_000 }) {
    const open = [...clients];
    const victims = open.slice(keep);
    const deadline = now() + timeoutMs;
    for (const client of victims) client.close();
    // A backlogged server may take long to answer close frames; then just drop the sockets.
    const graceful = now() + Math.min(5000, timeoutMs / 2);
    while (victims.some((c) => !c.closed) && now() < graceful) await sleep(20);
    for (const client of victims) if (!client.closed) client.terminate();
    let reported = null;
    while (now() < deadline) {
      reported = await serverSubscriptions();
      if (reported === null || reported <= keep) break;
      await sleep(50);
    }
    return { open: openClients().length, serverSubscriptions: reported };
  },

  // S1/S4: `events` triggers, `inflight` at a time, as fast as the server takes them.
  async burst({ events, inflight = 4, timeoutMs = 120_000, stallMs = 15_000, triggerTimeoutMs = 30_000 }) {
    if (state.control) await state.control.request({ op: 'reset' });
    const p = newPhase(false);
    phase = p;
    const cpu0 = serverCpuSeconds();
    const own0 = ownCpuSeconds();
    const started = now();
    const triggers = [];
    let issued = 0;
    let keyed = 0; // triggers that produced an event
    const chain = async () => {
      while (issued < events && now() - started < timeoutMs) {
        issued += 1;
        const t = await trigger(triggerTimeoutMs);
        triggers.push(t);
        if (t.key !== undefined) keyed += 1;
      }
    };
    const chains = Promise.all(Array.from({ length: inflight }, chain));
    let endCpu = null;
    let endOwn = null;
    // Checked on every delivery, so it must stay O(1).
    const complete = await waitFor(
      () => {
        if (triggers.length < events || p.received < keyed * p.n) return false;
        endCpu = serverCpuSeconds();
        endOwn = ownCpuSeconds();
        return true;
      },
      started + timeoutMs,
      stallMs,
      p,
    );
    const ended = now();
    // A cut-off burst ends here: CPU after this point is backlog, not this phase.
    endCpu ??= serverCpuSeconds();
    endOwn ??= ownCpuSeconds();
    phase = null;
    await Promise.race([chains, sleep(2000)]);
    const result = tally(p, triggers);
    delete result.latencies;
    const seconds = ((complete ? p.lastReceive : ended) - started) / 1000;
    const activeSeconds = (ended - started) / 1000;
    const serverCpu = endCpu - cpu0;
    // What the peer itself says it sent (the ceiling reports its send window).
    const peer = state.control ? await state.control.request({ op: 'stats' }) : null;
    return {
      ...result,
      peerSent: peer?.framesSent ?? null,
      peerSendSeconds: peer?.lastSend ? peer.lastSend - peer.firstSend : null,
      peerLastSendEpochMs: peer?.lastSend ? peer.lastSend * 1000 : null,
      lastReceiveEpochMs: p.lastReceive === null ? null : performance.timeOrigin + p.lastReceive,
      generatorCpuSeconds: endOwn - own0,
      complete,
      seconds,
      deliveriesPerSecond: result.delivered / seconds,
      serverCpuSeconds: serverCpu,
      serverCpuUsPerDelivery: result.delivered ? (serverCpu * 1e6) / result.delivered : null,
      serverCpuPercent: (100 * serverCpu) / activeSeconds,
      generatorCpuPercent: (100 * (endOwn - own0)) / activeSeconds,
      generatorReceiveRate: p.lastReceive > p.firstReceive ? p.received / ((p.lastReceive - p.firstReceive) / 1000) : null,
      firstReceiveMs: p.firstReceive === null ? null : p.firstReceive - started,
    };
  },

  // S2: `rate` triggers per second for `seconds`, open loop; then up to `graceMs`
  // for the stragglers. Anything not received by then counts as lost.
  async steady({ rate, seconds, graceMs = 10_000 }) {
    const p = newPhase(true);
    phase = p;
    const own0 = ownCpuSeconds();
    const cpu0 = serverCpuSeconds();
    const total = Math.round(rate * seconds);
    const interval = 1000 / rate;
    const started = now();
    const pending = [];
    let lateStart = 0;
    for (let i = 0; i < total; i++) {
      const due = started + i * interval;
      const wait = due - now();
      if (wait > 0) await sleep(wait);
      lateStart = Math.max(lateStart, now() - due);
      pending.push(trigger(seconds * 1000 + graceMs));
    }
    const lastSent = now();
    const triggers = [];
    let keyed = 0;
    const allIn = Promise.all(
      pending.map((pr) =>
        pr.then((t) => {
          triggers.push(t);
          if (t.key !== undefined) keyed += 1;
        }),
      ),
    );
    const complete = await waitFor(
      () => triggers.length === total && p.received >= keyed * p.n,
      lastSent + graceMs,
      0,
      p,
    );
    phase = null;
    const ended = now();
    const endCpu = serverCpuSeconds();
    const endOwn = ownCpuSeconds();
    await Promise.race([allIn, sleep(1000)]);
    // Triggers still unanswered at the deadline count as failed.
    for (let i = triggers.length; i < total; i++) triggers.push({ error: 'no answer by the deadline', sentAt: 0 });
    const result = tally(p, triggers);
    const latency = summary(result.latencies);
    delete result.latencies;
    return {
      ...result,
      complete,
      rate,
      seconds,
      graceMs,
      latencyMs: latency,
      maxSchedulingLagMs: lateStart,
      serverCpuPercent: (100 * (endCpu - cpu0)) / ((ended - started) / 1000),
      generatorCpuPercent: (100 * (endOwn - own0)) / ((ended - started) / 1000),
    };
  },

  // S6: `clients` closed loops, each moving its own task through the statuses.
  async mutations({ clients: workers, seconds, tasks, timeoutMs = 10_000 }) {
    const latencies = [];
    const errors = new Map();
    const cpu0 = serverCpuSeconds();
    const own0 = ownCpuSeconds();
    const started = now();
    const stopAt = started + seconds * 1000;
    const loop = async (slot) => {
      const task = tasks[slot % tasks.length];
      let status = task.status;
      while (now() < stopAt) {
        const next = STATUSES[(STATUSES.indexOf(status) + 1) % STATUSES.length];
        const body = JSON.stringify({ query: MUTATION, variables: { taskId: String(task.id), status: next } });
        const sentAt = now();
        try {
          const response = await httpRequest(
            'POST',
            `${state.httpUrl}/graphql`,
            body,
            { 'content-type': 'application/json', authorization: `Bearer ${task.token}` },
            timeoutMs,
          );
          const moved = JSON.parse(response.body).data?.updateTaskStatus;
          if (!moved) throw new Error(`${response.status} ${response.body.slice(0, 160)}`);
          latencies.push(now() - sentAt);
          status = moved.status;
        } catch (error) {
          errors.set(error.message, (errors.get(error.message) ?? 0) + 1);
          await sleep(10);
        }
      }
    };
    await Promise.all(Array.from({ length: workers }, (_, slot) => loop(slot)));
    const elapsed = (now() - started) / 1000;
    const serverCpu = serverCpuSeconds() - cpu0;
    return {
      clients: workers,
      seconds: elapsed,
      completed: latencies.length,
      failed: [...errors.values()].reduce((a, b) => a + b, 0),
      errorSamples: [...errors.keys()].slice(0, 3),
      perSecond: latencies.length / elapsed,
      latencyMs: summary(latencies),
      serverCpuUsPerMutation: latencies.length ? (serverCpu * 1e6) / latencies.length : null,
      serverCpuPercent: (100 * serverCpu) / elapsed,
      generatorCpuPercent: (100 * (ownCpuSeconds() - own0)) / elapsed,
    };
  },

  async counters() {
    const usage = process.resourceUsage();
    return {
      ...counters,
      open: openClients().length,
      userCpuSeconds: usage.userCPUTime / 1e6,
      systemCpuSeconds: usage.systemCPUTime / 1e6,
    };
  },

  async quit() {
    for (const client of clients) client.terminate();
    setTimeout(() => process.exit(0), 50);
    return {};
  },
};

const lines = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on('line', (line) => {
  if (!line.trim()) return;
  // Commands run one at a time, in order.
  queue = queue.then(async () => {
    const cmd = JSON.parse(line);
    try {
      const handler = commands[cmd.op];
      if (!handler) throw new Error(`unknown op ${cmd.op}`);
      const result = await handler(cmd);
      process.stdout.write(JSON.stringify({ id: cmd.id, ok: true, result }) + '\n');
    } catch (error) {
      log(error.stack);
      process.stdout.write(JSON.stringify({ id: cmd.id, ok: false, error: String(error.message) }) + '\n');
    }
  });
});
lines.on('close', () => {
  // The driver went away: finish the command at hand, then leave.
  queue.finally(() => {
    for (const client of clients) client.terminate();
    process.exit(0);
  });
});
