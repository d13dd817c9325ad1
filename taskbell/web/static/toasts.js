// In-page toasts for live events, and system notifications once the user has allowed them.

import { h } from "./dom.js";

const TOAST_MS = 8000;
const MAX_TOASTS = 4;

export class Toasts {
  #container;

  constructor(container) {
    this.#container = container;
  }

  show(message, detail) {
    const close = () => toast.remove();
    const toast = h(
      "div",
      { className: "toast", "data-testid": "toast", role: "status" },
      h("span", { className: "toast-icon", "aria-hidden": "true" }),
      h("div", { className: "toast-text" }, h("p", {}, message), detail ? h("small", {}, detail) : null),
      h("button", { type: "button", className: "toast-close", "aria-label": "Dismiss", onclick: close }, "×"),
    );
    this.#container.append(toast);
    while (this.#container.children.length > MAX_TOASTS) this.#container.firstElementChild.remove();
    setTimeout(close, TOAST_MS);
  }

  clear() {
    this.#container.replaceChildren();
  }
}

/** Browser notifications: permission is asked only from the button's click, never on load. */
export class DesktopAlerts {
  #button;

  constructor(button) {
    this.#button = button;
    button.addEventListener("click", () => this.#ask());
    this.#update();
  }

  get #supported() {
    return "Notification" in window;
  }

  notify(message, detail) {
    if (!this.#supported || Notification.permission !== "granted") return;
    try {
      new Notification("TaskBell", { body: detail ? `${message}\n${detail}` : message });
    } catch {
      // Some browsers (Android Chrome) only allow notifications from a service worker.
    }
  }

  async #ask() {
    if (!this.#supported) return;
    await Notification.requestPermission();
    this.#update();
  }

  #update() {
    this.#button.hidden = !this.#supported || Notification.permission !== "default";
  }
}
