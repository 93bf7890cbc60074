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
  // A link to #unit-N opens the page holding that card.
  function follow() {
    var match = /^#unit-(\d+)$/.exec(window.location.hash);
    var card = match && document.getElementById("unit-" + match[1]);
    if (card) {
      show(card.closest(".page").dataset.page);
      card.scrollIntoView();
    }
  }
  window.addEventListener("hashchange", follow);
  follow();
})();
