// The Study Links page's "Copy" buttons: put the link (or code) on the clipboard.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) return;
    var text = button.getAttribute("data-copy");
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { select(button); });
    } else {
      select(button);
    }
  });
  function select(button) {  // no clipboard (plain http): select the field to copy by hand
    var field = button.parentElement.querySelector("input.link-url");
    if (field) { field.focus(); field.select(); }
  }
})();
