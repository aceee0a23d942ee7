// bosun's pages, live: the daemon announces each change (Server-Sent
// Events at /events, each with an id; a reconnect resumes with
// Last-Event-ID), and the page fetches itself again and swaps its <main>.
// Without this script every page is whole as served.
(() => {
  if (!window.EventSource || !window.fetch || !window.DOMParser) return;
  if (location.pathname === '/login') return;
  let busy = false;
  let again = false;
  async function refresh(id) {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const r = await fetch(location.href, { credentials: 'same-origin', headers: { Accept: 'text/html' } });
      if (r.ok && r.url === location.href) {
        const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
        const fresh = doc.querySelector('main');
        const old = document.querySelector('main');
        if (fresh && old) old.replaceWith(fresh);
        document.body.dataset.change = id;
        document.dispatchEvent(new Event('bosun:swapped'));
      }
    } catch (_) {
      // The next change tries again.
    } finally {
      busy = false;
      if (again) { again = false; refresh(id); }
    }
  }
  const es = new EventSource('/events');
  es.addEventListener('change', (e) => refresh(e.lastEventId));
})();
