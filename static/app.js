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

// Inputs that only some choices take (a handler rule's role, a
// condition's value) show as the choice changes; without the script the
// page offers a button that comes back with the chosen one's inputs.
function dependentInputs() {
  document.querySelectorAll(".depends[data-on]").forEach(function (group) {
    var form = group.closest("form");
    var choice = form && form.elements[group.dataset.on];
    if (!choice) { return; }
    var wanted = group.dataset.values.split(" ");
    var sync = function () { group.hidden = wanted.indexOf(choice.value) < 0; };
    choice.addEventListener("change", sync);
    sync();
  });
}

// The person picker: as someone types in a person field, people whose
// username starts with, or whose name contains, the text are suggested;
// picking one writes their username. In a field of several people
// (comma-separated) the last one is completed.
function peoplePickers() {
  var separators = /[,;\s]+/;
  document.querySelectorAll("input[data-people]").forEach(function (input, i) {
    var many = input.dataset.people === "many";
    var list = document.createElement("ul");
    list.className = "suggestions";
    list.id = "people-" + i;
    list.setAttribute("role", "listbox");
    list.hidden = true;
    input.insertAdjacentElement("afterend", list);
    input.parentNode.classList.add("picker");
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("aria-expanded", "false");
    var active = -1, timer = null, asked = 0;

    var typed = function () {
      var parts = input.value.split(separators);
      return many ? parts[parts.length - 1] : input.value.trim();
    };
    var close = function () {
      list.hidden = true;
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    };
    var pick = function (username) {
      if (many) {
        var done = input.value.split(separators).filter(function (p) { return p; });
        if (typed()) { done.pop(); }
        done.push(username);
        input.value = done.join(", ") + ", ";
      } else {
        input.value = username;
      }
      close();
      input.focus();
    };
    var show = function (people) {
      list.textContent = "";
      people.forEach(function (p, j) {
        var item = document.createElement("li");
        item.id = list.id + "-" + j;
        item.setAttribute("role", "option");
        item.dataset.username = p.username;
        item.textContent = p.label;
        item.addEventListener("mousedown", function (e) {
          e.preventDefault();
          pick(p.username);
        });
        list.appendChild(item);
      });
      active = -1;
      list.hidden = people.length === 0;
      input.setAttribute("aria-expanded", String(!list.hidden));
    };
    var lookup = function () {
      var q = typed();
      if (!q) { close(); return; }
      var mine = ++asked;
      fetch("/people?q=" + encodeURIComponent(q), {
        headers: { Accept: "application/json" },
        credentials: "same-origin"
      })
        .then(function (r) {
          var json = (r.headers.get("content-type") || "").indexOf("application/json") === 0;
          return r.ok && json ? r.json() : [];
        })
        .then(function (people) { if (mine === asked) { show(people); } })
        .catch(close);
    };
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(lookup, 120);
    });
    input.addEventListener("keydown", function (e) {
      var items = list.querySelectorAll("li");
      if (list.hidden || items.length === 0) { return; }
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        active = (active + (e.key === "ArrowDown" ? 1 : -1) + items.length) % items.length;
        items.forEach(function (item, j) { item.setAttribute("aria-selected", String(j === active)); });
        input.setAttribute("aria-activedescendant", items[active].id);
      } else if (e.key === "Enter" && active >= 0) {
        e.preventDefault();
        pick(items[active].dataset.username);
      } else if (e.key === "Escape") {
        close();
      }
    });
    input.addEventListener("blur", close);
  });
}

// A file input that fills a text area with the file's text (an .ics
// calendar to import): the form still posts the text area, which works
// without this by pasting.
function fileFills() {
  document.querySelectorAll("input[type=file][data-fills]").forEach(function (input) {
    var area = document.getElementById(input.dataset.fills);
    if (!area || !window.FileReader) { return; }
    input.hidden = false;
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (!file) { return; }
      var reader = new FileReader();
      reader.onload = function () { area.value = String(reader.result); };
      reader.readAsText(file);
    });
  });
}

document.documentElement.classList.add("js");

document.addEventListener("DOMContentLoaded", function () {
  dependentInputs();
  peoplePickers();
  selectAll();
  counters();
  pastWarnings();
  fileFills();
});
