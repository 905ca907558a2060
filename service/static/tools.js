// Progressive enhancement only: without scripts every citation still sits in a selectable box, every
// cart link still works and the page still says what it did.
"use strict";
document.querySelectorAll("button[data-copy]").forEach(function (button) {
  var box = button.parentElement.querySelector("textarea.citation");
  var news = button.parentElement.querySelector(".copy-news");
  if (!box || !news) { return; }
  function say(words) {
    news.textContent = words;
    window.setTimeout(function () { news.textContent = ""; }, 4000);
  }
  function bySelection() {
    box.select();
    if (document.execCommand("copy")) {
      button.focus();  // select() took the focus into the box: the reader stays where they pressed
      say("已复制");
    } else {
      say("没能复制：引用已选中，请自己复制");
    }
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(box.value).then(function () { say("已复制"); }, bySelection);
    } else {
      bySelection();
    }
  });
});

// The pinned cart's height, for the stylesheet to keep what is scrolled to clear of it: measured
// before the focus below moves, and again whenever the cart changes (a narrower window wraps it).
(function () {
  var cart = document.getElementById("cart");
  if (!cart) { return; }
  function measure() {
    document.documentElement.style.setProperty("--cart-height", cart.offsetHeight + "px");
  }
  measure();
  if (window.ResizeObserver) { new window.ResizeObserver(measure).observe(cart); }
}());

// A cart link reloads the page: a live region filled before the load is not read out, so its news is
// put back once the page is up, and the focus goes back to where the link was (its result's toggle, or
// the cart's list, opened again) instead of the top of the page.
(function () {
  var news = document.getElementById("cart-news");
  if (!news || !news.textContent) { return; }
  var said = news.textContent;
  news.textContent = "";
  // the news is for this load only: a link copied from the address bar should not announce it again
  if (window.history.replaceState && window.URLSearchParams) {
    var url = new window.URL(window.location.href);
    url.searchParams.delete("cart_news");
    window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
  }
  window.setTimeout(function () { news.textContent = said; }, 300);
  var target = null;
  try {
    target = document.getElementById(decodeURIComponent(window.location.hash.slice(1)));
  } catch (malformed) {  // a hand-edited #%E0%A4%A: no place to go back to, the news is said all the same
    return;
  }
  if (!target) { return; }
  // after the load: going to the #fragment, the browser takes the focus off anything but the target
  window.addEventListener("load", function () {
    if (target.tagName === "DETAILS") {
      target.open = true;
      target.querySelector("summary").focus();
    } else {
      var toggle = target.querySelector("a.cart-add, a.uncart");
      if (toggle) { toggle.focus(); }
    }
  });
}());
