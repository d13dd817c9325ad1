// TaskBell web client: sign-in, then the board, the bell, toasts and live updates.

import * as api from "./api.js";
import { Bell } from "./bell.js";
import { Board } from "./board.js";
import { $, refreshTimes, show } from "./dom.js";
import { Live } from "./live.js";
import { EditingMark, Presence } from "./presence.js";
import { Preferences } from "./prefs.js";
import { QuickUpdate } from "./quick.js";
import { DesktopAlerts, Toasts } from "./toasts.js";
import { WebPush } from "./push.js";

const TOKEN_KEY = "taskbell-token";
const EXPIRES_KEY = "taskbell-expires-at";
const BANNER_MS = 6000;
const CLOCK_MS = 30000;
const EXPIRED = "Your session expired — sign in again.";
const ENDED = "Your session has ended. Please sign in again.";
// The server's clock decides; a refusal this close to expiresAt is taken for the expiry.
const EXPIRY_SLACK_MS = 60000;
// setTimeout fires at once for longer delays (30-day tokens are longer): wait in steps.
const MAX_TIMER_MS = 2 ** 31 - 1;
const toasts = new Toasts($("#toasts"));
const alerts = new DesktopAlerts($("#alerts-button"));
const webPush = new WebPush($("#push-button"), (error) => showBanner(error.message));
let session = null;
let bannerTimer = 0;
let expiryTimer = 0;

/** When the stored token stops working (ms since the epoch), or null when unknown. */
function expiresAt() {
  const when = Date.parse(sessionStorage.getItem(EXPIRES_KEY) ?? "");
  return Number.isNaN(when) ? null : when;
}

function hasExpired(slackMs = 0) {
  const when = expiresAt();
  return when !== null && Date.now() >= when - slackMs;
}

/** Why the server refused our token: it expired, or it was revoked (signed out elsewhere). */
function whyRefused() {
  return hasExpired(EXPIRY_SLACK_MS) ? EXPIRED : ENDED;
}

/** Sign out the moment the token expires, without waiting for the server to refuse it. */
function watchExpiry() {
  clearTimeout(expiryTimer);
  const when = expiresAt();
  if (when === null || !session) return;
  if (Date.now() >= when) return endSession(EXPIRED);
  expiryTimer = setTimeout(watchExpiry, Math.min(when - Date.now(), MAX_TIMER_MS));
}

function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(EXPIRES_KEY);
}

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
    if (error.hasCode?.("UNAUTHENTICATED")) endSession(whyRefused());
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
  const editing = new EditingMark(token);
  const quick = new QuickUpdate(token, board, quickElements(), editing);
  const bell = new Bell(token, bellElements(), (fresh) => live.polledNotifications(fresh));
  const live = new Live(token, me, board, bell, {
    announce,
    guard,
    onState: setConnection,
    onUnauthorized: () => endSession(whyRefused()),
  });
  const presence = new Presence(me, board, $("#presence"), live);
  const prefsEls = { open: $("#prefs-open"), panel: $("#prefs-panel"), body: $("#prefs-body"), mutes: $("#project-mutes") };
  const prefs = new Preferences(token, prefsEls, guard);
  board.onChange(() => prefs.syncProjects(board.projects));
  session = { token, board, bell, live, presence, editing, prefs };
  showApp(me);
  live.start();
  guard(Promise.all([board.refresh(), bell.load(), prefs.load()]));
  guard(webPush.start(token));
  watchExpiry();
}

function endSession(message = "") {
  if (!session) return;
  clearTimeout(expiryTimer);
  session.editing.stop();
  session.live.stop();
  session.presence.clear();
  webPush.stop();
  session.board.clear();
  session.bell.clear();
  session.prefs.clear();
  session = null;
  toasts.clear();
  forgetToken();
  setConnection("disconnected");
  showLogin(message);
}

async function signIn(event) {
  event.preventDefault();
  const submit = $("[data-testid=login-submit]");
  submit.disabled = true;
  try {
    const email = $("[data-testid=login-email]").value.trim();
    const login = await api.login(email, $("[data-testid=login-password]").value);
    const { token, user } = login;
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(EXPIRES_KEY, login.expiresAt);
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
  if (!token) return;
  await webPush.forget(token).catch(() => {}); // before the token stops working
  await api.logout(token).catch(() => {}); // the token is forgotten either way
}

function wirePrefs() {
  $("#prefs-open").addEventListener("click", () => session?.prefs.toggle());
  document.addEventListener("click", (event) => {
    if (session?.prefs.isOpen && !event.target.closest(".prefs")) session.prefs.toggle(false);
  });
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
  wirePrefs();
  // Any request refused for its token, whichever part of the page sent it, ends the session.
  api.onUnauthenticated(() => endSession(whyRefused()));
  setInterval(() => {
    refreshTimes();
    if (session && hasExpired()) endSession(EXPIRED); // a tab that slept past its timer
  }, CLOCK_MS);
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return showLogin();
  if (hasExpired()) {
    forgetToken();
    return showLogin(EXPIRED);
  }
  try {
    await start(token, await api.loadMe(token));
  } catch (error) {
    const refused = error.hasCode?.("UNAUTHENTICATED");
    const why = refused && hasExpired(EXPIRY_SLACK_MS) ? EXPIRED : "";
    if (refused) forgetToken();
    showLogin(refused ? why : error.message);
  }
}

boot();
