// countersign's small script: conveniences on top of pages that work
// without it. Served from /static under a script-src 'self' policy, so
// nothing here is inline and nothing is fetched from elsewhere.
"use strict";

// "Select all" for a batch: a header checkbox ticks every box of the
// name it names; it shows as mixed when only some are ticked.
function selectAll() {
  document.querySelectorAll("input[data-selects]").forEach(function (all) {
    var form = all.form || document;
    var boxes = function () {
      return Array.prototype.slice.call(
        form.querySelectorAll('input[type=checkbox][name="' + all.dataset.selects + '"]')
      );
    };
    var sync = function () {
      var ticked = boxes().filter(function (b) { return b.checked; }).length;
      all.checked = ticked > 0 && ticked === boxes().length;
      all.indeterminate = ticked > 0 && ticked < boxes().length;
    };
    all.hidden = false;
    all.addEventListener("change", function () {
      boxes().forEach(function (b) { b.checked = all.checked; });
      sync();
    });
    boxes().forEach(function (b) { b.addEventListener("change", sync); });
    sync();
  });
}


// A live count of the characters left in a field with a limit.
function counters() {
  document.querySelectorAll("[data-counter][maxlength]").forEach(function (field) {
    var max = parseInt(field.getAttribute("maxlength"), 10);
    var out = document.createElement("p");
    out.className = "counter";
    out.setAttribute("aria-live", "polite");
    field.insertAdjacentElement("afterend", out);
    var update = function () {
      var left = max - Array.from(field.value).length;
      out.textContent = document.body.dataset.charactersLeft.replace("%{n}", left);
      out.classList.toggle("low", left < max / 10);
    };
    field.addEventListener("input", update);
    update();
  });
}

// A date-time that starts in the past says so as it is picked (the
// preview says it again; submitting stays allowed).
function pastWarnings() {
  document.querySelectorAll("input[data-warn-past]").forEach(function (input) {
    var out = document.createElement("p");
    out.className = "past-warning";
    out.hidden = true;
    input.insertAdjacentElement("afterend", out);
    var check = function () {
      var at = input.value ? new Date(input.value + "Z") : null;
      out.hidden = !(at && at.getTime() < Date.now());
      out.textContent = input.dataset.warnPast;
    };
    input.addEventListener("change", check);
    input.addEventListener("input", check);
    check();
  });
}

document.addEventListener("DOMContentLoaded", function () {
  selectAll();
  counters();
  pastWarnings();
});
