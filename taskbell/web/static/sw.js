// TaskBell's service worker (served at /sw.js, scope /): shows each Web Push message as a
// system notification and, on click, focuses an open TaskBell tab or opens the app.

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

/** The payload TaskBell sends: {title, body, url, notificationId, projectId, taskId}. */
function readPayload(data) {
  if (!data) return {};
  try {
    return data.json();
  } catch {
    return { body: data.text() };
  }
}

self.addEventListener("push", (event) => {
  const payload = readPayload(event.data);
  const id = payload.notificationId;
  event.waitUntil(
    self.registration.showNotification(payload.title || "TaskBell", {
      body: payload.body || "",
      icon: "/static/favicon.svg",
      // One system notification per TaskBell notification, even if a push is repeated.
      tag: id ? `taskbell-${id}` : undefined,
      data: { url: payload.url || "/", notificationId: id ?? null },
    }),
  );
});

async function openApp(url) {
  const target = new URL(url || "/", self.location.origin);
  const open = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const tab = open.find((client) => new URL(client.url).origin === target.origin);
  if (tab) return tab.focus();
  return self.clients.openWindow(target.href);
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(openApp(event.notification.data?.url));
});
