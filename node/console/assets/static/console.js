// FLX console: small enhancements; every page works without them.
(function () {
  "use strict";
  var doc = document.documentElement;
  doc.classList.add("js");
  var lang = doc.lang || "en";

  // Times in the reader's time zone, with the browser's locale data.
  function localTimes(root) {
    if (!window.Intl) return;
    var f = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
    root.querySelectorAll("time[data-ts]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) { t.title = t.textContent; t.textContent = f.format(d); }
    });
  }

  // The language switcher submits itself.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { s.form.submit(); });
  });

  // A name's script is guessed from what is typed, when not chosen yet.
  var ranges = [["Cyrl", /[\u0400-\u04FF]/], ["Arab", /[\u0600-\u06FF\u0750-\u077F]/], ["Armn", /[\u0530-\u058F]/],
    ["Geor", /[\u10A0-\u10FF]/], ["Hebr", /[\u0590-\u05FF]/], ["Grek", /[\u0370-\u03FF]/], ["Deva", /[\u0900-\u097F]/],
    ["Ethi", /[\u1200-\u137F]/], ["Thai", /[\u0E00-\u0E7F]/], ["Latn", /[A-Za-z\u00C0-\u024F]/]];
  document.addEventListener("input", function (e) {
    var el = e.target;
    if (!el.name || !/\/names\/\d+\/value$/.test(el.name)) return;
    var sel = el.form && el.form.elements[el.name.replace(/value$/, "script")];
    if (!sel || (sel.value && !sel.dataset.guessed)) return;
    for (var i = 0; i < ranges.length; i++) {
      if (ranges[i][1].test(el.value)) { sel.value = ranges[i][0]; sel.dataset.guessed = "1"; return; }
    }
  });
  document.addEventListener("change", function (e) {
    if (e.target.name && /\/script$/.test(e.target.name)) delete e.target.dataset.guessed;
  });

  // Withdrawal progress refreshes itself until every recipient confirmed.
  var p = document.getElementById("progress");
  if (p && p.dataset.refresh && window.fetch) {
    var every = Math.max(2, parseInt(p.dataset.refresh, 10)) * 1000;
    var tick = function () {
      fetch(location.href, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("deliveries");
        var cur = document.getElementById("deliveries");
        if (!fresh || !cur) return;
        cur.replaceWith(fresh);
        localTimes(fresh);
        var np = document.getElementById("progress");
        if (np && np.dataset.refresh) setTimeout(tick, every);
      });
    };
    setTimeout(tick, every);
  }

  // A recording's duration is filled in from the player once it is known.
  document.querySelectorAll("input[data-duration-of]").forEach(function (inp) {
    var m = document.querySelector(inp.dataset.durationOf);
    if (!m) return;
    var fill = function () { if (!inp.value && isFinite(m.duration)) inp.value = m.duration.toFixed(1); };
    m.addEventListener("loadedmetadata", fill);
    fill();
  });

  // A table wider than a phone scrolls inside its own focusable region
  // instead of the whole page sideways.
  document.querySelectorAll("main table").forEach(function (t) {
    if (t.closest(".scroll")) return;
    var box = document.createElement("div");
    box.className = "scroll";
    box.setAttribute("role", "region");
    box.setAttribute("tabindex", "0");
    var cap = t.querySelector("caption"), h1 = document.querySelector("main h1");
    box.setAttribute("aria-label", (cap || h1 || t).textContent.trim().slice(0, 80));
    t.parentNode.insertBefore(box, t);
    box.appendChild(t);
  });

  // The menu stays on one row when it fits; otherwise it collapses behind
  // the Menu button (a phone, a long translation), and opens below it.
  var top = document.querySelector("header.top");
  var toggle = top && top.querySelector(".menu-toggle");
  var menu = document.getElementById("menu");
  if (toggle && menu) {
    var setOpen = function (open) {
      top.classList.toggle("open", open);
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    };
    var fit = function () {
      var open = top.classList.contains("open");
      top.classList.remove("collapsed", "open");
      var over = top.scrollWidth > top.clientWidth + 1 || menu.scrollWidth > menu.clientWidth + 1;
      top.classList.toggle("collapsed", over);
      setOpen(over && open);
    };
    toggle.addEventListener("click", function () { setOpen(!top.classList.contains("open")); });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && top.classList.contains("open")) { setOpen(false); toggle.focus(); }
    });
    window.addEventListener("resize", fit);
    window.addEventListener("load", fit);
    fit();
  }

  localTimes(document);
})();
