// The bell: unread count, and a dropdown of notifications (newest first, paged) to mark read.

import * as api from "./api.js";
import { ago, h } from "./dom.js";

const PAGE_SIZE = 10;

export class Bell {
  #token;
  #els;
  #onNew;
  #unread = 0;
  #items = [];
  #seen = new Set();
  #pageInfo = { hasNextPage: false, endCursor: null };

  /** els: { button, count, panel, list, markAll, more, guard }; onNew(notifications) for polled ones */
  constructor(token, els, onNew) {
    this.#token = token;
    this.#els = els;
    this.#onNew = onNew;
  }

  get isOpen() {
    return !this.#els.panel.hidden;
  }

  /** The first page and the count; remembers what exists so polling can tell what is new. */
  async load() {
    const page = await api.loadNotifications(this.#token, PAGE_SIZE);
    this.#takeFirstPage(page);
  }

  /** A notification from the notificationReceived subscription. */
  received(notification) {
    if (this.#seen.has(notification.id)) return;
    this.#seen.add(notification.id);
    this.#items.unshift(notification);
    if (!notification.read) this.#unread += 1;
    this.#render();
  }

  /** The polling fallback: reload the first page and hand over the notifications not seen yet. */
  async poll() {
    const page = await api.loadNotifications(this.#token, PAGE_SIZE);
    const fresh = page.nodes.filter((node) => !this.#seen.has(node.id));
    this.#takeFirstPage(page);
    if (fresh.length) this.#onNew(fresh.reverse());
  }

  async loadMore() {
    const page = await api.loadNotifications(this.#token, PAGE_SIZE, this.#pageInfo.endCursor);
    this.#remember(page.nodes);
    this.#items.push(...page.nodes.filter((node) => !this.#items.some((i) => i.id === node.id)));
    this.#pageInfo = page.pageInfo;
    this.#unread = page.unread;
    this.#render();
  }

  async markRead(ids = null) {
    this.#unread = await api.markNotificationsRead(this.#token, ids);
    for (const item of this.#items) {
      if (ids === null || ids.includes(item.id)) item.read = true;
    }
    this.#render();
  }

  toggle(open = !this.isOpen) {
    this.#els.panel.hidden = !open;
    this.#els.button.setAttribute("aria-expanded", String(open));
  }

  clear() {
    this.toggle(false);
    this.#items = [];
    this.#seen.clear();
    this.#unread = 0;
    this.#render();
  }

  #takeFirstPage(page) {
    this.#remember(page.nodes);
    this.#items = page.nodes;
    this.#pageInfo = page.pageInfo;
    this.#unread = page.unread;
    this.#render();
  }

  #remember(nodes) {
    for (const node of nodes) this.#seen.add(node.id);
  }

  #render() {
    const { button, count, list, markAll, more } = this.#els;
    count.textContent = String(this.#unread);
    count.dataset.zero = String(this.#unread === 0);
    document.title = this.#unread ? `(${this.#unread}) TaskBell` : "TaskBell";
    button.setAttribute("aria-label", `Notifications, ${this.#unread} unread`);
    markAll.disabled = this.#unread === 0;
    more.hidden = !this.#pageInfo.hasNextPage;
    list.replaceChildren(
      ...(this.#items.length
        ? this.#items.map((item) => this.#item(item))
        : [h("li", { className: "empty" }, "You’re all caught up.")]),
    );
  }

  #item(item) {
    const where = item.project ? `${item.project.name} · ` : "";
    return h(
      "li",
      { className: "notification", "data-read": String(item.read), "data-testid": "notification" },
      h("span", { className: "dot", "aria-hidden": "true" }),
      h(
        "div",
        { className: "notification-text" },
        h("p", {}, item.message),
        h("small", {}, where, ago(item.createdAt)),
      ),
      item.read
        ? null
        : h(
            "button",
            {
              type: "button",
              className: "link",
              "aria-label": `Mark read: ${item.message}`,
              onclick: () => this.#els.guard(this.markRead([item.id])),
            },
            "Mark read",
          ),
    );
  }
}
