// Progressive enhancement, a few lines: a section marked data-running="true" is fetched again every
// data-refresh milliseconds and replaced in place until what it shows has stopped running. Without
// JavaScript, operation pages refresh themselves (<noscript> meta refresh) and every action still works.
(function () {
  function refresh(id, every) {
    setTimeout(function () {
      fetch(location.href, { credentials: "same-origin", headers: { "X-Console-Refresh": id } })
        .then(function (r) {
          if (!r.ok || r.redirected) { location.reload(); return null; }
          return r.text();
        })
        .then(function (html) {
          if (html === null) return;
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(id);
          var current = document.getElementById(id);
          if (!fresh || !current) return;
          current.replaceWith(fresh);
          if (fresh.dataset.running === "true") refresh(id, every);
          else if (fresh.dataset.reload === "true") location.reload();
        })
        .catch(function () { refresh(id, every * 2); });
    }, every);
  }
  document.querySelectorAll("[data-refresh][data-running='true']").forEach(function (el) {
    refresh(el.id, parseInt(el.dataset.refresh, 10) || 2000);
  });
})();
