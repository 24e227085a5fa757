// @ts-check
/// <reference lib="webworker" />
// The agent app's service worker (docs/notifications.md, "The agent's app").
//
// It shows what the server pushes (RFC 8030; the browser has decrypted it) as
// a notification, one per conversation, and a click brings the dashboard
// forward on that conversation: an open dashboard is focused and told which
// one, else a new window opens at the push's `url`. It caches nothing: the
// dashboard needs the server anyway.
'use strict';

const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));

sw.addEventListener('install', () => { sw.skipWaiting(); });
sw.addEventListener('activate', (event) => { event.waitUntil(sw.clients.claim()); });

/**
 * What the server sends (`PushMessage` in server/src/push.rs).
 * @typedef {{ title?: string, body?: string, conversation_id?: string, url?: string }} Push
 */

sw.addEventListener('push', (event) => {
  /** @type {Push} */
  let push = {};
  try { push = event.data ? event.data.json() : {}; } catch (e) { push = { body: event.data ? event.data.text() : '' }; }
  const id = push.conversation_id || '';
  event.waitUntil(sw.registration.showNotification(push.title || 'New message', {
    body: push.body || '',
    tag: id ? 'conversation-' + id : 'onair',
    // @ts-ignore: `renotify` is in Chromium and the spec, not in every lib.dom.
    renotify: true,
    icon: '/icons/icon-192.png',
    badge: '/icons/maskable-192.png',
    data: { url: push.url || '/dashboard', conversation_id: id },
  }));
});

sw.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  const url = new URL(data.url || '/dashboard', sw.location.origin).href;
  event.waitUntil((async () => {
    const windows = await sw.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const dashboard = windows.find((w) => new URL(w.url).pathname === '/dashboard');
    if (dashboard) {
      await dashboard.focus();
      dashboard.postMessage({ type: 'onair:open', url });
      return;
    }
    await sw.clients.openWindow(url);
  })());
});
