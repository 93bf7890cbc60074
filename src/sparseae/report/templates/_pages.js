// Show one page of unit cards at a time; every card stays in the page.
(function () {
  var pages = document.querySelectorAll(".page");
  var buttons = document.querySelectorAll("[data-show-page]");
  function show(page) {
    pages.forEach(function (element) {
      element.hidden = page !== "all" && element.dataset.page !== page;
    });
    buttons.forEach(function (button) {
      button.classList.toggle("current", button.dataset.showPage === page);
    });
  }
  buttons.forEach(function (button) {
    button.addEventListener("click", function () { show(button.dataset.showPage); });
  });
  // A link to #unit-N opens the page holding that card.  Clicks are handled
  // directly: a second click on the same link leaves the hash as it is, so
  // no hashchange would come; hashchange still serves typed or pasted URLs.
  function openCard(hash) {
    var match = /^#unit-(\d+)$/.exec(hash);
    var card = match && document.getElementById("unit-" + match[1]);
    if (!card) return false;
    show(card.closest(".page").dataset.page);
    card.scrollIntoView();
    return true;
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest('a[href^="#unit-"]');
    if (!link || event.defaultPrevented || event.button !== 0 ||
        event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    var hash = link.getAttribute("href");
    if (openCard(hash)) {
      event.preventDefault();
      if (window.location.hash !== hash) history.pushState(null, "", hash);
    }
  });
  window.addEventListener("hashchange", function () { openCard(window.location.hash); });
  openCard(window.location.hash);
})();
