// Live updates for the web inbox: every POLL_MS, ask whether anything changed; if so, fetch this page
// again and swap its <main data-live> region. Pages without that region (messages, forms) stay still.
"use strict";
(function () {
  const POLL_MS = 1500;
  const live = document.querySelector("main[data-live]");
  let version = document.body.dataset.version;
  if (!live || !version) return;

  async function refresh() {
    const response = await fetch(location.href, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.querySelector("main[data-live]");
    if (fresh && page.body.dataset.version) {
      live.replaceChildren(...Array.from(fresh.childNodes));
      version = page.body.dataset.version;
      document.body.dataset.version = version;
    }
  }

  async function poll() {
    try {
      if (!document.hidden) {
        const response = await fetch("/api/changes", { credentials: "same-origin", cache: "no-store" });
        if (response.ok && (await response.json()).version !== version) await refresh();
      }
    } catch (error) {
      // The emulator stopped or restarted: keep the page as it is and try again later.
    }
    setTimeout(poll, POLL_MS);
  }
  setTimeout(poll, POLL_MS);
})();
