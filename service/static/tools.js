// Progressive enhancement only: without scripts every citation still sits in a selectable box.
"use strict";
document.querySelectorAll("button[data-copy]").forEach(function (button) {
  var box = button.parentElement.querySelector("textarea.citation");
  if (!box) { return; }
  var label = button.textContent;
  function copied() {
    button.textContent = "已复制";
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }
  function bySelection() {
    box.select();
    document.execCommand("copy");
    copied();
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(box.value).then(copied, bySelection);
    } else {
      bySelection();
    }
  });
});
