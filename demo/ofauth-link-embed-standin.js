// STAND-IN for OFAuth's embed library (@ofauth/link-embed v5), which is not on
// the package registries this project can reach. Same interface and message
// protocol as the real one, written from its source:
//   const handler = OFAuthLinkEmbed.create({ theme, onSuccess, onClose, onInvalidSession })
//   handler.open(session.url)
// It opens the session URL in a modal iframe with embed=true, embed_origin and
// theme; accepts { type: "OFAUTH_LINK", event, metadata } messages only from that
// iframe and only from https://link.ofauth.com, *.ofauth.com, localhost or
// 127.0.0.1; after onSuccess resolves it navigates the top window to successUrl
// when `redirect` is true, otherwise removes the iframe. To use the real library
// instead, open the demo with ?embed=cdn (see index.html).
"use strict";
(function () {
  function trusted(origin) {
    try {
      const u = new URL(origin);
      if (u.hostname === "localhost" || u.hostname === "127.0.0.1") return true;
      return u.protocol === "https:" && (u.hostname === "link.ofauth.com" || u.hostname.endsWith(".ofauth.com"));
    } catch {
      return false;
    }
  }

  function create(options) {
    let overlay = null;
    let frame = null;
    let listener = null;

    function remove() {
      if (listener) window.removeEventListener("message", listener);
      if (overlay) overlay.remove();
      overlay = frame = listener = null;
    }

    async function onMessage(e) {
      if (!frame || e.source !== frame.contentWindow || !trusted(e.origin)) return;
      const data = e.data;
      if (!data || data.type !== "OFAUTH_LINK") return;
      const metadata = data.metadata || {};
      switch (data.event) {
        case "loaded":
          if (options.onLoad) options.onLoad();
          break;
        case "success":
          try {
            if (options.onSuccess) await options.onSuccess(metadata);
          } finally {
            if (metadata.redirect && metadata.successUrl) window.location.href = metadata.successUrl;
            else remove();
          }
          break;
        case "exit":
          remove();
          if (options.onClose) options.onClose(metadata);
          break;
        case "invalid_session":
          remove();
          if (options.onInvalidSession) options.onInvalidSession();
          break;
      }
    }

    return {
      open(url) {
        remove();
        const u = new URL(url);
        u.searchParams.set("embed", "true");
        u.searchParams.set("embed_origin", window.location.origin);
        u.searchParams.set("theme", options.theme || "light");
        overlay = document.createElement("div");
        overlay.className = "ofauth-link-overlay";
        frame = document.createElement("iframe");
        frame.id = "ofauth-link-frame";
        frame.title = "Connect your OnlyFans account";
        frame.src = u.toString();
        overlay.append(frame);
        document.body.append(overlay);
        listener = onMessage;
        window.addEventListener("message", listener);
      },
      // Asks the hosted page to exit (it answers with an `exit` message).
      close(force) {
        if (!frame) return;
        const origin = new URL(frame.src).origin;
        frame.contentWindow.postMessage({ type: "OFAUTH_LINK", event: "exit_requested", force: Boolean(force) }, origin);
      },
      destroy: remove,
    };
  }

  window.OFAuthLinkEmbed = { create, standIn: true };
})();
