/* onair chat box — interim plain-JS widget (a wasm widget replaces it later).
 * Embed: <script src="https://HOST/widget.js" data-account="acme" data-group="sales" data-lang="de" async></script>
 * Shows the live status of the account (or group). Conversations are not built yet: no message form. */
(function () {
  'use strict';
  if (window.__onairWidget) return;
  window.__onairWidget = true;

  var script = document.currentScript;
  if (!script) {
    var all = document.getElementsByTagName('script');
    for (var i = all.length - 1; i >= 0 && !script; i--) {
      if (/\/widget\.js$/.test((all[i].src || '').split(/[?#]/)[0])) script = all[i];
    }
  }
  if (!script || !script.getAttribute('data-account')) {
    if (window.console) console.warn('onair: widget.js needs a data-account attribute');
    return;
  }
  var account = script.getAttribute('data-account');
  var group = script.getAttribute('data-group') || '';
  var origin = new URL(script.src, location.href).origin;

  var STRINGS = {
    en: { chat: 'Chat with us', offline: "We're offline", back: 'Back at {t}', label: 'Chat status' },
    fr: { chat: 'Discutez avec nous', offline: 'Nous sommes hors ligne', back: 'De retour le {t}', label: 'État du chat' },
    de: { chat: 'Chatten Sie mit uns', offline: 'Wir sind offline', back: 'Zurück am {t}', label: 'Chat-Status' },
    it: { chat: 'Chatta con noi', offline: 'Siamo offline', back: 'Di nuovo disponibili {t}', label: 'Stato della chat' },
    es: { chat: 'Chatea con nosotros', offline: 'Estamos desconectados', back: 'Volvemos el {t}', label: 'Estado del chat' }
  };
  function pickLang() {
    var wanted = [script.getAttribute('data-lang'), navigator.language].concat(navigator.languages || []);
    for (var i = 0; i < wanted.length; i++) {
      var code = String(wanted[i] || '').slice(0, 2).toLowerCase();
      if (STRINGS[code]) return code;
    }
    return 'en';
  }
  var lang = pickLang();
  var T = STRINGS[lang];

  var CSS = [
    ':host { all: initial; }',
    '* { box-sizing: border-box; }',
    '.box { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; max-width: min(320px, calc(100vw - 40px));',
    '  font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;',
    '  background: #fff; border-radius: 18px; box-shadow: 0 6px 24px rgba(0,0,0,.18); padding: 12px 16px; }',
    '.box[hidden] { display: none; }',
    '.title { display: flex; align-items: center; gap: 8px; font-weight: 600; }',
    '.dot { width: 10px; height: 10px; border-radius: 50%; flex: none; background: #8c959f; }',
    '.online .dot { background: #1a7f37; } .busy .dot { background: #bf8700; } .offline .dot { background: #8c959f; }',
    '.msg, .back { margin: 6px 0 0; font-size: 13px; color: #57606a; }',
    '.msg:empty, .back:empty { display: none; }',
    '.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }'
  ].join('\n');

  var host, box, titleText, msgEl, backEl, live;
  function build() {
    host = document.getElementById('onair-chatbox');
    if (!host) {
      host = document.createElement('div');
      host.id = 'onair-chatbox';
      document.body.appendChild(host);
    }
    host.setAttribute('data-status', 'connecting');
    var root = host.shadowRoot || host.attachShadow({ mode: 'open' });
    while (root.firstChild) root.removeChild(root.firstChild);
    var style = document.createElement('style');
    style.textContent = CSS;
    root.appendChild(style);
    box = el('div', 'box');
    box.setAttribute('role', 'region');
    box.setAttribute('aria-label', T.label);
    box.setAttribute('lang', lang);
    box.hidden = true; // nothing to show until the server answers
    var title = el('div', 'title');
    title.appendChild(el('span', 'dot'));
    titleText = title.appendChild(el('span', ''));
    box.appendChild(title);
    msgEl = box.appendChild(el('p', 'msg'));
    backEl = box.appendChild(el('p', 'back'));
    root.appendChild(box);
    live = el('div', 'sr');
    live.setAttribute('aria-live', 'polite');
    live.setAttribute('lang', lang);
    root.appendChild(live);
  }
  function el(tag, cls) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    return e;
  }

  var lastVersion = -1, lastStatus = null;
  function render(s) {
    var status = s.status === 'online' || s.status === 'busy' ? s.status : 'offline';
    host.setAttribute('data-status', status);
    box.className = 'box ' + status;
    titleText.textContent = status === 'offline' ? T.offline : T.chat;
    msgEl.textContent = status !== 'online' && s.message ? String(s.message) : '';
    var back = '';
    if (status === 'offline' && s.next_change && s.reason === 'outside_office_hours') {
      var when = new Date(s.next_change);
      if (!isNaN(when)) {
        back = T.back.replace('{t}', when.toLocaleString(undefined,
          { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' }));
      }
    }
    backEl.textContent = back;
    box.hidden = false;
    if (status !== lastStatus) {
      live.textContent = [titleText.textContent, msgEl.textContent, back].filter(Boolean).join('. ');
      lastStatus = status;
    }
  }

  var url = origin + '/api/v1/accounts/' + encodeURIComponent(account) + '/status/events' +
    (group ? '?group=' + encodeURIComponent(group) : '');
  function connect() {
    var es = new EventSource(url);
    es.addEventListener('status', function (ev) {
      var s;
      try { s = JSON.parse(ev.data); } catch (e) { return; }
      if (!s || typeof s.version !== 'number' || s.version < lastVersion) return;
      lastVersion = s.version;
      render(s);
    });
    es.onerror = function () {
      // While CONNECTING the browser retries by itself (the server sends retry: 2000);
      // the last status stays shown. CLOSED means it gave up (e.g. an HTTP error): retry later.
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        setTimeout(connect, 5000);
      }
    };
  }

  function start() { build(); connect(); }
  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start);
})();
