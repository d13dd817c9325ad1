// TaskBell web client: sign-in, then the board, the bell, toasts and live updates.

import * as api from "./api.js";
import { Bell } from "./bell.js";
import { Board } from "./board.js";
import { $, refreshTimes, show } from "./dom.js";
import { Live } from "./live.js";
import { QuickUpdate } from "./quick.js";
import { DesktopAlerts, Toasts } from "./toasts.js";

const TOKEN_KEY = "taskbell-token";
const BANNER_MS = 6000;
const CLOCK_MS = 30000;
const toasts = new Toasts($("#toasts"));
const alerts = new DesktopAlerts($("#alerts-button"));
let session = null;
let bannerTimer = 0;

function announce(message, detail) {
  toasts.show(message, detail);
  alerts.notify(message, detail);
}

function showBanner(text) {
  const banner = $("#banner");
  banner.textContent = text;
  show(banner, true);
  clearTimeout(bannerTimer);
  bannerTimer = setTimeout(() => show(banner, false), BANNER_MS);
}

/** Run a background promise; a revoked token ends the session, other failures are shown. */
function guard(promise, { quiet = false } = {}) {
  promise.catch((error) => {
    if (error.hasCode?.("UNAUTHENTICATED")) endSession("Your session has ended. Please sign in again.");
    else if (!quiet) showBanner(error.message);
  });
}

function setConnection(state) {
  const indicator = $("[data-testid=connection-state]");
  indicator.textContent = state;
  indicator.dataset.state = state;
}

function showLogin(message = "") {
  show($("#app-view"), false);
  show($("#account"), false);
  show($("#connection"), false);
  show($("#login-view"), true);
  const error = $("#login-error");
  error.textContent = message;
  show(error, Boolean(message));
  $("[data-testid=login-email]").focus();
}

function showApp(me) {
  $("#user-name").textContent = me.name;
  show($("#login-view"), false);
  show($("#app-view"), true);
  show($("#account"), true);
  show($("#connection"), true);
}

function bellElements() {
  return {
    button: $("#bell-button"),
    count: $("[data-testid=bell-count]"),
    panel: $("#bell-panel"),
    list: $("#bell-list"),
    markAll: $("#mark-all"),
    more: $("#load-more"),
    guard,
  };
}

function quickElements() {
  return {
    form: $("#quick-form"),
    task: $("[data-testid=quick-task]"),
    status: $("[data-testid=quick-status]"),
    submit: $("[data-testid=quick-submit]"),
    feedback: $("#quick-feedback"),
  };
}

async function start(token, me) {
  const board = new Board(token, {
    tabs: $("#project-tabs"),
    columns: $("#columns"),
    onPick: (id) => quick.pick(id),
  });
  const quick = new QuickUpdate(token, board, quickElements());
  const bell = new Bell(token, bellElements(), (fresh) => live.polledNotifications(fresh));
  const live = new Live(token, me, board, bell, {
    announce,
    guard,
    onState: setConnection,
    onUnauthorized: () => endSession("Your session has ended. Please sign in again."),
  });
  session = { token, board, bell, live };
  showApp(me);
  live.start();
  guard(Promise.all([board.refresh(), bell.load()]));
}

function endSession(message = "") {
  if (!session) return;
  session.live.stop();
  session.board.clear();
  session.bell.clear();
  session = null;
  toasts.clear();
  sessionStorage.removeItem(TOKEN_KEY);
  setConnection("disconnected");
  showLogin(message);
}

async function signIn(event) {
  event.preventDefault();
  const submit = $("[data-testid=login-submit]");
  submit.disabled = true;
  try {
    const email = $("[data-testid=login-email]").value.trim();
    const { token, user } = await api.login(email, $("[data-testid=login-password]").value);
    sessionStorage.setItem(TOKEN_KEY, token);
    event.target.reset();
    await start(token, user);
  } catch (error) {
    const wrong = error.hasCode?.("UNAUTHENTICATED");
    showLogin(wrong ? "Wrong email or password." : error.message);
  } finally {
    submit.disabled = false;
  }
}

async function signOut() {
  const token = session?.token;
  endSession();
  if (token) await api.logout(token).catch(() => {}); // the token is forgotten either way
}

function wireBell() {
  const button = $("#bell-button");
  button.addEventListener("click", () => session?.bell.toggle());
  $("#mark-all").addEventListener("click", () => session && guard(session.bell.markRead()));
  $("#load-more").addEventListener("click", () => session && guard(session.bell.loadMore()));
  document.addEventListener("click", (event) => {
    if (session?.bell.isOpen && !event.target.closest(".bell")) session.bell.toggle(false);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && session?.bell.isOpen) {
      session.bell.toggle(false);
      button.focus();
    }
  });
}

async function boot() {
  $("#login-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOut);
  wireBell();
  setInterval(() => refreshTimes(), CLOCK_MS);
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return showLogin();
  try {
    await start(token, await api.loadMe(token));
  } catch (error) {
    if (error.hasCode?.("UNAUTHENTICATED")) sessionStorage.removeItem(TOKEN_KEY);
    showLogin(error.hasCode?.("UNAUTHENTICATED") ? "" : error.message);
  }
}

boot();
