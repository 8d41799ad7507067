// Done page: submit the platform form (or follow the completion link) automatically,
// once, from this frame. The visible button/link stays as the fallback.
(function () {
  "use strict";
  var form = document.getElementById("submit-hit");
  var link = document.querySelector("a[data-auto-follow]");
  window.setTimeout(function () {
    if (form && !form.dataset.submitted) {
      form.dataset.submitted = "1";
      form.submit();
    } else if (link) {
      window.location.assign(link.href);
    }
  }, 800);
  if (form) {
    form.addEventListener("submit", function () { form.dataset.submitted = "1"; });
  }
})();
