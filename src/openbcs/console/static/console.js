// Progressive enhancement, a few lines: a section with data-refresh (milliseconds) is fetched again that often and
// replaced in place by the element of the same id in the answer, while it says data-running="true" (an operation
// runs) or data-live="true" (node health of a local-runtime instance). It is fetched from data-src, a small
// fragment route, or else from the page itself. A section that stops running with data-reload="true" brings the
// whole page back (what the operation changed). Nothing is fetched from elsewhere. Without JavaScript, operation
// pages refresh themselves (<noscript> meta refresh) and every action still works.
(function () {
  function polled(el) { return el.dataset.running === "true" || el.dataset.live === "true"; }
  function refresh(id, every) {
    setTimeout(function () {
      var current = document.getElementById(id);
      if (!current) return;
      fetch(current.dataset.src || location.href, { credentials: "same-origin", headers: { "X-Console-Refresh": id } })
        .then(function (r) {
          if (!r.ok || r.redirected) { location.reload(); return null; }
          return r.text();
        })
        .then(function (html) {
          if (html === null) return;
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(id);
          current = document.getElementById(id);
          if (!fresh || !current) return;
          if (!fresh.isEqualNode(current)) current.replaceWith(fresh);  // unchanged: left as it is (open details)
          if (polled(fresh)) refresh(id, every);
          else if (fresh.dataset.reload === "true") location.reload();
        })
        .catch(function () { refresh(id, every * 2); });
    }, every);
  }
  document.querySelectorAll("[data-refresh]").forEach(function (el) {
    if (polled(el)) refresh(el.id, parseInt(el.dataset.refresh, 10) || 2000);
  });
})();
