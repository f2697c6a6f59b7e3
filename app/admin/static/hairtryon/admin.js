// HairTryOn admin: send the session's CSRF token with every form and script request
// (app/admin/guard.py refuses unsafe requests without it), and show flash toasts (the CSP
// forbids the inline script sqladmin uses for them).
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var token = meta ? meta.getAttribute("content") : "";

  function addToken(form) {
    if ((form.getAttribute("method") || "get").toLowerCase() !== "post") return;
    if (form.querySelector('input[name="csrf_token"]')) return;
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "csrf_token";
    input.value = token;
    form.appendChild(input);
  }

  document.querySelectorAll("form").forEach(addToken);
  document.addEventListener("submit", function (event) { addToken(event.target); }, true);

  if (window.jQuery) {
    window.jQuery.ajaxSetup({ headers: { "X-CSRF-Token": token } });
  }
  var originalFetch = window.fetch;
  if (originalFetch) {
    window.fetch = function (resource, init) {
      var url = new URL(typeof resource === "string" ? resource : resource.url, window.location.href);
      if (url.origin !== window.location.origin) return originalFetch.call(window, resource, init);
      init = init || {};
      var headers = new Headers(init.headers || {});
      headers.set("X-CSRF-Token", token);
      init.headers = headers;
      return originalFetch.call(window, resource, init);
    };
  }

  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  if (window.tabler && window.tabler.bootstrap) {
    document.querySelectorAll(".toast").forEach(function (element) {
      new window.tabler.bootstrap.Toast(element, { delay: 3000 }).show();
    });
  }
})();
