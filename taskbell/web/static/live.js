// Live updates: the two subscriptions over one socket, each resuming from its last cursor after a
// reconnect, and polling the notifications query while the socket stays down.

import { NOTIFICATION_RECEIVED, TASK_STATUS_UPDATED } from "./api.js";
import { GraphQLSocket } from "./socket.js";

const POLL_AFTER_FAILURES = 3;
const POLL_MS = 5000;
const RESUBSCRIBE_MS = 1000;
const ECHO_MEMORY_MS = 30000;

export class Live {
  #me;
  #board;
  #bell;
  #hooks;
  #socket;
  #cursor = null;
  #noteCursor = null;
  #pollTimer = 0;
  #stopped = false;
  // Messages already toasted from a poll, so their events replayed on reconnect stay quiet.
  #echoes = new Map();
  #onOnline = () => this.#socket.retryNow();

  /** hooks: { announce(message, detail), onState(state), onUnauthorized(), guard(promise) } */
  constructor(token, me, board, bell, hooks) {
    this.#me = me;
    this.#board = board;
    this.#bell = bell;
    this.#hooks = hooks;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
    this.#socket = new GraphQLSocket(url, token, {
      onState: (state) => this.#stateChanged(state),
      onFailures: (count) => this.#failuresChanged(count),
      onUnauthorized: () => hooks.onUnauthorized(),
    });
  }

  start() {
    this.#subscribeEvents();
    this.#subscribeNotifications();
    window.addEventListener("online", this.#onOnline);
    this.#socket.start();
  }

  stop() {
    this.#stopped = true;
    window.removeEventListener("online", this.#onOnline);
    this.#stopPolling();
    this.#socket.stop();
  }

  /** Another subscription on this socket, restarted like ours (see #subscribeOnce). */
  follow(query, variables, handlers) {
    this.#subscribeOnce(query, variables, handlers);
  }

  /** Toasts from polled notifications; the matching replayed events will not toast again. */
  polledNotifications(notifications) {
    for (const { message, project } of notifications) {
      this.#echoes.set(message, (this.#echoes.get(message) ?? 0) + 1);
      this.#hooks.announce(message, project?.name);
    }
  }

  #subscribeEvents() {
    this.#subscribeOnce(TASK_STATUS_UPDATED, () => ({ after: this.#cursor }), {
      next: (data) => this.#event(data.taskStatusUpdated),
      // A refused cursor, or a project that went away: start afresh from the current board.
      restart: () => {
        this.#cursor = null;
        this.#subscribeEvents();
        this.#hooks.guard(this.#board.refresh());
      },
    });
  }

  #subscribeNotifications() {
    this.#subscribeOnce(NOTIFICATION_RECEIVED, () => ({ after: this.#noteCursor }), {
      next: (data) => {
        this.#noteCursor = data.notificationReceived.cursor;
        this.#bell.received(data.notificationReceived);
      },
      // A refused cursor: start afresh; the bell re-reads its count on reconnect anyway.
      restart: () => {
        this.#noteCursor = null;
        this.#subscribeNotifications();
      },
    });
  }

  /** One subscription; when it errors or ends it is restarted once, unless the token died. */
  #subscribeOnce(query, variables, { next, restart }) {
    let ended = false;
    const end = (errors = []) => {
      if (ended) return;
      ended = true;
      unsubscribe();
      const codes = errors.map((error) => error.extensions?.code);
      if (codes.includes("UNAUTHENTICATED")) this.#hooks.onUnauthorized();
      else this.#later(restart);
    };
    const unsubscribe = this.#socket.subscribe(query, variables, {
      next: (result) => (result.errors?.length ? end(result.errors) : next(result.data)),
      error: (errors) => end(Array.isArray(errors) ? errors : [errors]),
      complete: () => end(),
    });
  }

  #later(action) {
    setTimeout(() => this.#stopped || action(), RESUBSCRIBE_MS);
  }

  #event(event) {
    this.#cursor = event.cursor;
    this.#hooks.guard(this.#board.apply(event));
    if (event.updatedBy.id === this.#me.id || this.#isEcho(event.message)) return;
    this.#hooks.announce(event.message, event.projectName);
  }

  #isEcho(message) {
    const count = this.#echoes.get(message) ?? 0;
    if (count === 0) return false;
    if (count === 1) this.#echoes.delete(message);
    else this.#echoes.set(message, count - 1);
    return true;
  }

  #stateChanged(state) {
    this.#hooks.onState(state);
    if (state !== "connected") return;
    this.#stopPolling();
    // Both subscriptions resume from their cursors (the bell skips notifications it has seen,
    // and re-reads its count); without an event cursor the board is re-read instead.
    this.#hooks.guard(this.#bell.load());
    if (this.#cursor === null) this.#hooks.guard(this.#board.refresh());
    setTimeout(() => this.#echoes.clear(), ECHO_MEMORY_MS);
  }

  #failuresChanged(count) {
    if (count >= POLL_AFTER_FAILURES && !this.#pollTimer) this.#poll();
  }

  #poll() {
    if (this.#stopped) return;
    this.#hooks.guard(Promise.all([this.#bell.poll(), this.#board.refresh()]), { quiet: true });
    this.#pollTimer = setTimeout(() => this.#poll(), POLL_MS);
  }

  #stopPolling() {
    clearTimeout(this.#pollTimer);
    this.#pollTimer = 0;
  }
}
