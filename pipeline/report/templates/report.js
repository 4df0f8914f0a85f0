
(function () {
  var root = document.documentElement;
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input[data-filter]"));
  var files = Array.prototype.slice.call(document.querySelectorAll("section.file"));
  function shown() {
    var on = {};
    boxes.forEach(function (b) { on[b.value] = b.checked; });
    return on;
  }
  function apply() {
    var on = shown(), all = boxes.every(function (b) { return b.checked; });
    var rows = 0, visibleFiles = 0;
    boxes.forEach(function (b) { root.classList.toggle("hide-" + b.value, !b.checked); });
    files.forEach(function (f) {
      var n = 0, counts = f.getAttribute("data-counts");
      (counts ? counts.split(" ") : []).forEach(function (pair) {
        var kv = pair.split(":");
        if (on[kv[0]]) { n += parseInt(kv[1], 10); }
      });
      f.hidden = !(n > 0 || (all && !counts));
      if (!f.hidden) { visibleFiles += 1; }
      rows += n;
    });
    document.getElementById("visible-rows").textContent = String(rows);
    document.getElementById("visible-files").textContent = String(visibleFiles);
  }
  function fromHash() {
    var m = /(?:^#|&)status=([^&]*)/.exec(location.hash);
    var want = m ? decodeURIComponent(m[1]).split(",") : null;
    boxes.forEach(function (b) { b.checked = !want || want.indexOf(b.value) >= 0; });
    apply();
  }
  function toHash() {
    var on = boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
    var hash = on.length === boxes.length ? "" : "#status=" + on.join(",");
    history.replaceState(null, "", hash || location.pathname + location.search);
    apply();
  }
  boxes.forEach(function (b) { b.addEventListener("change", toHash); });
  var evidence = document.getElementById("evidence-filter");
  evidence.addEventListener("change", function () {
    Array.prototype.slice.call(evidence.options).forEach(function (o) {
      if (o.value) { root.classList.toggle("only-ev-" + o.value, o.selected); }
    });
  });
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
