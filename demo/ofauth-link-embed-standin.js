// STAND-IN for OFAuth's embed library, @ofauth/link-embed 5 (not on the
// package registries this project can reach). Written from the library's
// source; it has the same global name, DOM ids, handler API, message protocol
// and behaviour, and leaves out its styling details and sandbox banner:
//   const handler = window.OFAuth.LinkEmbed.create({ url?, theme, onLoad, onSuccess, onClose, onInvalidSession })
//   handler.open(url?) / close({ force }) / cleanup() / destroy() / setUrl(url) / ready
// - The session opens in <iframe id="ofauth-iframe"> over
//   <div id="ofauth-modal-overlay">, with embed=true, embed_origin and theme
//   added to its URL.
// - It accepts { type: "OFAUTH_LINK", event, metadata } only from OFAuth's
//   hosts (link.ofauth.com, link-next.ofauth.com, *.ofauth.com) and loopback
//   (localhost, 127.0.0.1), and only from its own iframe.
// - success: awaits onSuccess, then navigates to successUrl when `redirect`,
//   else cleans up. exit: awaits onClose, then cleans up. invalid_session:
//   keeps the iframe and only calls onInvalidSession.
// - close() posts exit_requested to the page (which answers exit); a click on
//   the overlay does the same; close({ force: true }) also cleans up at once.
// To run the demo and the browser test with the real library, see docs/testing.md.
"use strict";
(function () {
  const EVENT = "OFAUTH_LINK";
  const IDS = { iframe: "ofauth-iframe", overlay: "ofauth-modal-overlay", loader: "ofauth-loader" };

  function allowedOrigin(origin) {
    if (origin === "https://link.ofauth.com" || origin === "https://link-next.ofauth.com") return true;
    try {
      const u = new URL(origin);
      return u.hostname === "localhost" || u.hostname === "127.0.0.1" || u.hostname.endsWith(".ofauth.com");
    } catch {
      return false;
    }
  }

  function styleSheet() {
    const style = document.createElement("style");
    style.textContent = `
      #${IDS.iframe} { position: fixed; top: 50%; left: 50%; transform: translate(-50%, -50%);
        width: 400px; height: 600px; border: 1px solid #e0e0e0; border-radius: 8px;
        box-shadow: 0 4px 12px rgba(0,0,0,.15); z-index: 2147483647; background: transparent; }
      #${IDS.overlay} { position: fixed; inset: 0; background: rgba(0,0,0,.5); z-index: 2147483646; display: none; }
      #${IDS.loader} { position: fixed; top: 50%; left: 50%; z-index: 2147483647; color: #fff; }
      body.ofauth-no-scroll { overflow: hidden; }`;
    document.head.appendChild(style);
    return style;
  }

  function create(config) {
    const theme = config.theme || "auto";
    let loaded = false;
    let destroyed = false;
    let currentUrl = null;
    let frameOrigin = null;
    let iframe = null;
    let overlay = null;
    let loader = null;
    let style = styleSheet();

    function prepare(url) {
      const u = new URL(url);
      u.searchParams.set("embed", "true");
      u.searchParams.set("embed_origin", window.location.origin);
      u.searchParams.set("theme", theme);
      return u.toString();
    }

    function setUrl(url) {
      if (destroyed) return;
      currentUrl = prepare(url);
      frameOrigin = new URL(currentUrl).origin;
      if (iframe && !document.body.contains(iframe)) iframe.src = currentUrl;
      loaded = false;
    }

    function ensureElements() {
      if (!overlay) {
        overlay = document.createElement("div");
        overlay.id = IDS.overlay;
        overlay.style.display = "none";
        overlay.addEventListener("click", () => close());
      }
      if (!iframe) {
        iframe = document.createElement("iframe");
        iframe.id = IDS.iframe;
        iframe.title = "Connect your OnlyFans account";
        iframe.style.display = "none";
        iframe.setAttribute("allow", "camera; microphone; clipboard-read; clipboard-write");
      }
    }

    function hideLoader() {
      if (loader) loader.remove();
      loader = null;
    }

    function open(url) {
      if (destroyed) return;
      if (url) setUrl(url);
      if (!currentUrl) return;
      ensureElements();
      loaded = false;
      overlay.style.display = "block";
      iframe.style.display = "none";
      if (!loader) {
        loader = document.createElement("div");
        loader.id = IDS.loader;
        loader.textContent = "Loading…";
        document.body.appendChild(loader);
      }
      if (!document.body.contains(overlay)) document.body.appendChild(overlay);
      if (!document.body.contains(iframe)) document.body.appendChild(iframe);
      document.body.classList.add("ofauth-no-scroll");
      iframe.addEventListener("load", () => {
        if (iframe) iframe.style.display = "block";
        hideLoader();
      }, { once: true });
      iframe.setAttribute("data-theme", theme);
      iframe.src = currentUrl;
    }

    function cleanup() {
      if (destroyed) return;
      hideLoader();
      if (overlay && document.body.contains(overlay)) overlay.remove();
      if (iframe && document.body.contains(iframe)) iframe.remove();
      document.body.classList.remove("ofauth-no-scroll");
      loaded = false;
    }

    function close(options) {
      if (destroyed) return;
      if (iframe && iframe.contentWindow && frameOrigin) {
        iframe.contentWindow.postMessage({ type: EVENT, event: "exit_requested", force: Boolean(options && options.force) }, frameOrigin);
      }
      if (options && options.force) cleanup();
    }

    function destroy() {
      if (destroyed) return;
      window.removeEventListener("message", onMessage);
      cleanup();
      if (style) style.remove();
      style = iframe = overlay = null;
      destroyed = true;
    }

    // Each callback's error is reported and the clean-up still happens.
    function run(callback, metadata, then) {
      Promise.resolve()
        .then(() => callback && callback(metadata))
        .catch((e) => console.error("[OFAuth stand-in] callback failed", e))
        .then(then);
    }

    function onMessage(e) {
      if (!allowedOrigin(e.origin)) return;
      if (iframe && e.source && e.source !== iframe.contentWindow) return;
      const data = e.data;
      if (!data || typeof data !== "object" || data.type !== EVENT) return;
      switch (data.event) {
        case "loaded":
          if (loaded) return;
          loaded = true;
          hideLoader();
          run(config.onLoad);
          break;
        case "success":
          run(config.onSuccess, data.metadata, () => {
            if (data.metadata && data.metadata.redirect) window.location.href = data.metadata.successUrl;
            else cleanup();
          });
          break;
        case "exit":
          run(config.onClose, data.metadata, cleanup);
          break;
        case "invalid_session":
          run(config.onInvalidSession);
          break;
      }
    }

    if (config.url) setUrl(config.url);
    window.addEventListener("message", onMessage);
    const handler = { open, close, destroy, cleanup, setUrl };
    Object.defineProperty(handler, "ready", { get: () => loaded, enumerable: true });
    return handler;
  }

  window.OFAuth = { LinkEmbed: { create, standIn: true } };
})();
