// Web Push: the service worker, and the "Enable push" button. Permission is asked only when
// the button is clicked, never on load (browsers penalise sites that prompt unasked).

import { request } from "./graphql.js";

const PUBLIC_KEY = "query WebPushPublicKey { webPushPublicKey }";
const UNREGISTER = `mutation UnregisterPush($endpoint: String!) {
  unregisterPushSubscription(endpoint: $endpoint)
}`;
const REGISTER = `mutation RegisterPush($endpoint: String!, $p256dh: String!, $auth: String!) {
  registerPushSubscription(endpoint: $endpoint, p256dh: $p256dh, auth: $auth)
}`;

/** The VAPID key (base64url) as the bytes PushManager.subscribe wants. */
function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (char) => char.charCodeAt(0));
}

export class WebPush {
  #button;
  #onError;
  #token = null;

  constructor(button, onError) {
    this.#button = button;
    this.#onError = onError;
    button.addEventListener("click", () => this.#enable().catch((error) => this.#failed(error)));
  }

  get supported() {
    return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  }

  /** Signed in: register the worker (no prompt) and offer the button unless push is on. */
  async start(token) {
    this.#token = token;
    if (!this.supported) return;
    const registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
    const subscribed = await registration.pushManager.getSubscription();
    if (subscribed && Notification.permission === "granted") {
      await this.#register(subscribed); // this browser may have been someone else's before
      return this.#show("on");
    }
    this.#show(Notification.permission === "denied" ? "hidden" : "offer");
  }

  stop() {
    this.#token = null;
    this.#show("hidden");
  }

  /** Signing out: this browser stops getting the member's pushes (it may be shared). */
  async forget(token) {
    if (!this.supported) return;
    const registration = await navigator.serviceWorker.getRegistration("/");
    const subscription = await registration?.pushManager.getSubscription();
    if (!subscription) return;
    await request(UNREGISTER, { endpoint: subscription.endpoint }, token);
    await subscription.unsubscribe();
  }

  async #enable() {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") return this.#show(permission === "denied" ? "hidden" : "offer");
    this.#button.disabled = true;
    const registration = await navigator.serviceWorker.ready;
    const data = await request(PUBLIC_KEY, {}, this.#token);
    const subscription =
      (await registration.pushManager.getSubscription()) ??
      (await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(data.webPushPublicKey),
      }));
    await this.#register(subscription);
    this.#show("on");
  }

  async #register(subscription) {
    const { endpoint, keys } = subscription.toJSON();
    await request(REGISTER, { endpoint, p256dh: keys.p256dh, auth: keys.auth }, this.#token);
  }

  #failed(error) {
    this.#show("offer");
    this.#onError(new Error(`Push could not be enabled: ${error.message}`));
  }

  #show(state) {
    const button = this.#button;
    button.dataset.state = state;
    button.hidden = state === "hidden" || !this.#token;
    button.disabled = state === "on";
    button.textContent = state === "on" ? "Push on" : "Enable push";
  }
}
