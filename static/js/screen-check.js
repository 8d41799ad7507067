// Screening by screen size on the consent page: when the screen is narrower than the
// experiment's min_screen_width, the page says why instead of offering to start.
(function () {
  "use strict";
  var script = document.currentScript;
  var minimum = Number(script && script.getAttribute("data-min-screen-width"));
  // The platform's way to leave ("return the HIT" only on MTurk), from the consent page.
  var giveBack = (script && script.getAttribute("data-give-back")) || "close this page";
  if (!minimum || window.screen.width >= minimum) {
    return;
  }
  document.addEventListener("DOMContentLoaded", function () {
    var main = document.createElement("main");
    var heading = document.createElement("h1");
    var text = document.createElement("p");
    heading.textContent = "This task needs a larger screen";
    text.textContent = "Your screen is " + window.screen.width + " pixels wide; this task " +
      "needs at least " + minimum + ". Please open it on a larger screen, or " + giveBack + ".";
    main.id = "screen-too-small";
    main.className = "card";
    main.append(heading, text);
    document.body.replaceChildren(main);
  });
})();
