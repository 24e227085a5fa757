/* onair chat box loader (widget/README.md). Embed:
 *   <script src="https://HOST/widget.js" data-account="acme" data-group="sales" data-lang="de" async></script>
 * It loads the wasm chat box (crate widget/) from the same server and mounts it. The server
 * replaces __ONAIR_GLUE__, __ONAIR_WASM__ and __ONAIR_STRINGS__ with the content-hashed names it
 * serves under /widget/. This is the source: `cargo xtask widget` minifies it (terser) into
 * www/pkg/widget.js, which the server serves at /widget.js (this file only without a build). */
(function () {
  'use strict';
  if (window.__onairWidget) return;

  var script = document.currentScript;
  if (!script) {
    var all = document.getElementsByTagName('script');
    for (var i = all.length - 1; i >= 0 && !script; i--) {
      if (/\/widget\.js$/.test((all[i].src || '').split(/[?#]/)[0])) script = all[i];
    }
  }
  var account = script && script.getAttribute('data-account');
  if (!account) {
    if (window.console) console.warn('onair: widget.js needs a data-account attribute');
    return;
  }
  window.__onairWidget = true;
  var group = script.getAttribute('data-group') || undefined;
  var lang = script.getAttribute('data-lang') || undefined;
  var origin = new URL(script.src, location.href).origin;

  // The language, as widget/src/i18n.rs chooses: data-lang, else the browser's first one we
  // speak, else English, which the wasm has; another's words are a file fetched beside it.
  var code = 'en', tags = [lang].concat(navigator.languages || [], navigator.language);
  for (var t = 0; t < tags.length; t++) {
    var spoken = /^(en|fr|de|it|es)([-_]|$)/i.exec((tags[t] || '').trim());
    if (spoken) { code = spoken[1].toLowerCase(); break; }
  }
  var options = { credentials: 'omit' };
  var strings = code == 'en' ? undefined
    : fetch(origin + '/widget/__ONAIR_STRINGS__.' + code + '.json', options).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.json();
    });

  // Fetch the wasm while the glue module loads, not after: one round trip less.
  var wasm = fetch(origin + '/widget/__ONAIR_WASM__', options);
  import(origin + '/widget/__ONAIR_GLUE__')
    .then(function (m) {
      return Promise.all([m.default({ module_or_path: wasm }), strings]).then(function (loaded) {
        function start() { m.mount(account, group, code, origin, loaded[1]); }
        if (document.body) start();
        else document.addEventListener('DOMContentLoaded', start);
      });
    })
    .catch(function (error) {
      window.__onairWidget = false;
      if (window.console) console.warn('onair: the chat box could not load', error);
    });
})();
