// wxbot console: WeChat's byte limits as you type, and the fields each
// button type and reply kind use. The pages work without it.
"use strict";
(function () {
  var enc = new TextEncoder();
  function bytes(s) { return enc.encode(s).length; }

  // A field with data-maxbytes shows its size and is invalid past it, so
  // that Test and Publish cannot be pressed with a name WeChat refuses.
  // The words come from the page, in the console's language.
  var words = document.documentElement.dataset;
  function say(text, n, max) { return (text || "").replace("{n}", n).replace("{max}", max); }
  function checkBytes(el) {
    var max = +el.dataset.maxbytes, n = bytes(el.value);
    var count = el.parentElement.querySelector(".count");
    var msg = n > max ? say(words.over, n, max) : "";
    el.setCustomValidity(msg);
    if (count) {
      count.textContent = el.value ? say(words.count, n, max) : "";
      count.classList.toggle("over", n > max);
    }
    // The legend and the phone above show the name as it is typed.
    document.querySelectorAll('.pv[data-for="' + el.name + '"]').forEach(function (pv) { pv.textContent = el.value; });
  }

  // An image past WeChat's limit is dropped as it is chosen, with the
  // reason: sent, it would be refused, or past the form's limit not even
  // read, and the page's other changes with it.
  function checkFile(el) {
    var f = el.files && el.files[0], over = !!f && f.size > +el.dataset.maxsize;
    var count = el.parentElement.querySelector(".count");
    if (count) {
      count.textContent = over ? el.dataset.toobig : "";
      count.classList.toggle("over", over);
    }
    if (over) el.value = "";
  }

  document.addEventListener("input", function (e) {
    if (e.target.dataset && e.target.dataset.maxbytes) checkBytes(e.target);
  });
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t.classList.contains("btype")) t.closest("fieldset").dataset.type = t.value;
    if (t.classList.contains("reply-kind")) t.closest(".reply").dataset.reply = t.value;
    if (t.type === "file" && t.dataset.maxsize) checkFile(t);
  });
  document.querySelectorAll("[data-maxbytes]").forEach(checkBytes);

  // Try it: keep the latest message in view.
  var chat = document.getElementById("chat");
  if (chat) chat.scrollTop = chat.scrollHeight;
})();
