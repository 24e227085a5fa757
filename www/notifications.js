// @ts-check
// The dashboard's notifications (docs/notifications.md, "The agent's app"): the
// "Enable notifications" button, a browser notification for each visitor message
// the agent has not seen while the dashboard is open, an optional beep, the unread
// count on the favicon and the app badge, and this device's Web Push subscription
// for when the dashboard is closed.
//
// The inbox (the dashboard's inline script) tells this module what happens with
// events on `document`:
//   `onair:visitor-message` {conversation_id, name, text, first, seen}
//   `onair:unread`          {count}
//   `onair:session`         {token} (null when logged out)
// and this module opens a conversation by setting `location.hash` to
// `#conversation=<id>`, which the inbox follows.

const ENABLED_KEY = 'onair.notify';        // 'on' once the agent turned notifications on here
const SOUND_KEY = 'onair.notify.sound';    // 'on' for a beep with each notification

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const supported = 'Notification' in window && 'serviceWorker' in navigator;
const pushSupported = supported && 'PushManager' in window;

/** @type {Promise<ServiceWorkerRegistration | null>} */
const registration = supported
  ? navigator.serviceWorker.register('/sw.js', { scope: '/' }).then(() => navigator.serviceWorker.ready, () => null)
  : Promise.resolve(null);

/** The agent's token, as the inbox keeps it. */
const token = () => sessionStorage.getItem('onair.token');
const enabled = () => localStorage.getItem(ENABLED_KEY) === 'on';

/**
 * An API call with the agent's token; throws `{status, code, message}` on an error answer.
 * @param {string} method @param {string} path @param {unknown} [body]
 */
async function api(method, path, body) {
  const headers = /** @type {Record<string, string>} */ ({ authorization: 'Bearer ' + token() });
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.ok) return res.status === 204 ? null : res.json();
  let error = { code: 'http_' + res.status, message: 'The server answered ' + res.status + '.' };
  try { error = (await res.json()).error || error; } catch (e) { /* not JSON */ }
  throw Object.assign(new Error(error.message), { status: res.status, code: error.code });
}

/** @param {string} text base64url → bytes, for `applicationServerKey`. */
function fromBase64url(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((text.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

// ---- the button and what it says ---------------------------------------------
/** @param {string} text @param {'ok' | 'error' | ''} [kind] */
function say(text, kind) {
  const state = $('notify-state');
  state.textContent = text;
  state.className = 'hint' + (kind ? ' ' + kind : '');
}

function render() {
  const button = /** @type {HTMLButtonElement} */ ($('notify-enable'));
  const off = /** @type {HTMLButtonElement} */ ($('notify-disable'));
  if (!supported) {
    button.hidden = true; off.hidden = true;
    say('This browser cannot show notifications.');
    return;
  }
  const on = enabled() && Notification.permission === 'granted';
  button.hidden = on; off.hidden = !on;
  if (Notification.permission === 'denied') {
    button.disabled = true;
    say('Notifications are blocked for this site: allow them in the browser’s site settings.', 'error');
  } else if (!on) {
    button.disabled = false;
    say('Get a notification for each new visitor message, also when the dashboard is closed.');
  }
}

// The permission is asked for here, on the agent's click, never on load.
$('notify-enable').addEventListener('click', async () => {
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') { localStorage.removeItem(ENABLED_KEY); render(); return; }
  localStorage.setItem(ENABLED_KEY, 'on');
  render();
  await subscribe(true);
});

$('notify-disable').addEventListener('click', async () => {
  localStorage.removeItem(ENABLED_KEY);
  render();
  try {
    const reg = await registration;
    const subscription = reg && pushSupported ? await reg.pushManager.getSubscription() : null;
    if (subscription) await subscription.unsubscribe();
    if (token()) await api('DELETE', '/api/v1/me/push');
    say('Notifications are off on this device.');
  } catch (err) { say(errorText(err), 'error'); }
});

const sound = /** @type {HTMLInputElement} */ ($('notify-sound'));
sound.checked = localStorage.getItem(SOUND_KEY) === 'on';
sound.addEventListener('change', () => {
  if (sound.checked) { localStorage.setItem(SOUND_KEY, 'on'); beep(); } else localStorage.removeItem(SOUND_KEY);
});

/** @param {unknown} err */
const errorText = (err) => (err instanceof Error ? err.message : String(err));

// ---- Web Push -----------------------------------------------------------------
/**
 * Subscribes this browser with the server's key and hands the subscription to the
 * server for this session (device). Quiet unless `loud`: on every login it only
 * renews what the agent turned on before.
 * @param {boolean} loud
 */
async function subscribe(loud) {
  if (!token() || !enabled() || Notification.permission !== 'granted') return;
  const live = 'Notifications are on while the dashboard is open.';
  if (!pushSupported) { say(live + ' This browser has no Web Push, so none come while it is closed.', 'ok'); return; }
  try {
    const reg = await registration;
    if (!reg) throw new Error('the service worker did not start');
    const info = await api('GET', '/api/v1/me/push');
    const key = fromBase64url(info.public_key);
    let subscription = await reg.pushManager.getSubscription();
    const sameKey = subscription && subscription.options.applicationServerKey &&
      new Uint8Array(subscription.options.applicationServerKey).join() === key.join();
    if (subscription && !sameKey) { await subscription.unsubscribe(); subscription = null; }
    if (!subscription) subscription = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    const json = subscription.toJSON();
    await api('PUT', '/api/v1/me/push', { endpoint: json.endpoint, keys: json.keys });
    say('Notifications are on, also when the dashboard is closed.', 'ok');
  } catch (err) {
    // Browsers without a reachable push service (or private windows) refuse here.
    say(live + ' Push while it is closed is not available here: ' + errorText(err), loud ? 'error' : '');
  }
}

// ---- notifications while the dashboard is open ------------------------------------
/** @typedef {{conversation_id: string, name?: string, text: string, first: boolean, seen: boolean}} VisitorMessage */

document.addEventListener('onair:visitor-message', async (event) => {
  const m = /** @type {CustomEvent<VisitorMessage>} */ (event).detail;
  if (m.seen || !enabled() || !supported || Notification.permission !== 'granted') return;
  const who = (m.name || '').trim() || 'a visitor';
  const title = (m.first ? 'New conversation from ' : 'New message from ') + who;
  const text = m.text.trim();
  const body = Array.from(text).length > 140 ? Array.from(text).slice(0, 140).join('').trimEnd() + '…' : text;
  const reg = await registration;
  if (!reg) return;
  await reg.showNotification(title, {
    body,
    tag: 'conversation-' + m.conversation_id,
    // @ts-ignore: `renotify` is in Chromium and the spec, not in every lib.dom.
    renotify: true,
    icon: '/icons/icon-192.png',
    badge: '/icons/maskable-192.png',
    data: { url: '/dashboard#conversation=' + m.conversation_id, conversation_id: m.conversation_id },
  });
  if (localStorage.getItem(SOUND_KEY) === 'on') beep();
});

/** @type {AudioContext | null} */
let audio = null;
/** Two short tones (Web Audio: no sound file to load). */
function beep() {
  try {
    audio = audio || new AudioContext();
    const at = audio.currentTime;
    [[880, 0], [1320, 0.16]].forEach(([frequency, start]) => {
      const ctx = /** @type {AudioContext} */ (audio);
      const osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, at + start);
      gain.gain.exponentialRampToValueAtTime(0.2, at + start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + start + 0.14);
      osc.connect(gain).connect(ctx.destination);
      osc.start(at + start); osc.stop(at + start + 0.15);
    });
  } catch (e) { /* no audio here */ }
}

// A click on a notification (in the service worker) names the conversation to open.
if (supported) {
  navigator.serviceWorker.addEventListener('message', (event) => {
    if (!event.data || event.data.type !== 'onair:open') return;
    const url = new URL(event.data.url, location.href);
    if (url.pathname === location.pathname) location.hash = url.hash;
  });
}

// ---- the unread count on the favicon and the app's badge --------------------------
const favicon = /** @type {HTMLLinkElement} */ (document.querySelector('link[rel=icon]'));
const plainIcon = favicon.href;
/** @param {number} count */
function badge(count) {
  favicon.dataset.count = String(count);
  const nav = /** @type {Navigator & {setAppBadge?: (n: number) => Promise<void>, clearAppBadge?: () => Promise<void>}} */ (navigator);
  if (count > 0 && nav.setAppBadge) nav.setAppBadge(count).catch(() => {});
  else if (!count && nav.clearAppBadge) nav.clearAppBadge().catch(() => {});
  if (!count) { favicon.href = plainIcon; return; }
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 64;
  const g = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  g.fillStyle = '#2559d6';
  g.beginPath(); g.roundRect(0, 0, 64, 64, 14); g.fill();
  g.fillStyle = '#fff';
  g.beginPath(); g.roundRect(12, 14, 40, 30, 10); g.fill();
  g.fillStyle = '#c62828';
  g.beginPath(); g.arc(44, 44, 20, 0, 2 * Math.PI); g.fill();
  g.fillStyle = '#fff';
  g.font = 'bold 26px system-ui, sans-serif';
  g.textAlign = 'center'; g.textBaseline = 'middle';
  g.fillText(count > 9 ? '9+' : String(count), 44, 46);
  favicon.href = canvas.toDataURL('image/png');
}
document.addEventListener('onair:unread', (event) => {
  badge(/** @type {CustomEvent<{count: number}>} */ (event).detail.count);
});

document.addEventListener('onair:session', (event) => {
  const detail = /** @type {CustomEvent<{token: string | null}>} */ (event).detail;
  render();
  if (detail.token) subscribe(false);
  else badge(0);
});

// The inline script ran first: take the state it left.
render();
badge(Number($('inbox-unread').dataset.count || 0));
if (token()) subscribe(false);
