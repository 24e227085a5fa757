/* onair chat box loader (widget/README.md). Embed:
 *   <script src="https://HOST/widget.js" data-account="acme" data-group="sales" data-lang="de" async></script>
 * It fetches the wasm chat box (crate widget/) from the same server and mounts it. This is the
 * source: `cargo xtask widget` puts wasm-bindgen's glue (`--target no-modules`) in place of the
 * glue's placeholder below and minifies the whole (terser) into www/pkg/widget.js, which the
 * server serves at /widget.js, replacing __ONAIR_WASM__ and __ONAIR_STRINGS__ with the
 * content-hashed names it serves under /widget/. (A server built without the widget serves this
 * file, with `null` for the glue: the chat box then does not load.) */
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

  // The glue: a function that instantiates the wasm, with the wasm's exports (`mount`) on it.
  // In this file rather than a module of its own: one response less.
  var glue = __ONAIR_GLUE__;
  var wasm = fetch(origin + '/widget/__ONAIR_WASM__', options);
  Promise.all([wasm.then(function (response) { return glue({ module_or_path: response }); }), strings])
    .then(function (loaded) {
      function start() { glue.mount(account, group, code, origin, loaded[1]); }
      if (document.body) start();
      else document.addEventListener('DOMContentLoaded', start);
    })
    .catch(function (error) {
      window.__onairWidget = false;
      if (window.console) console.warn('onair: the chat box could not load', error);
    });
})();
