// A General Single study link gives each browser one run: the browser keeps a random id
// for the link in localStorage and sends it along; clearing the storage makes a new one.
(function () {
  "use strict";
  var form = document.getElementById("browser-id-form");
  if (!form) return;
  var key = form.getAttribute("data-storage-key");
  var id = null;
  try { id = window.localStorage.getItem(key); } catch (e) { id = null; }
  if (!id || !/^[A-Za-z0-9_-]{16,64}$/.test(id)) {
    var bytes = new Uint8Array(18);
    window.crypto.getRandomValues(bytes);
    id = Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
    try { window.localStorage.setItem(key, id); } catch (e) { /* private mode: one visit */ }
  }
  form.elements.b.value = id;
  form.submit();
})();
