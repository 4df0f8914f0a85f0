(function () {
  var root = document.documentElement;
  var nav = document.getElementById("filters");
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input[data-filter]"));
  var files = Array.prototype.slice.call(document.querySelectorAll("section.file"));
  var defaults = (nav.getAttribute("data-default") || "").split(" ");
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
    var want = m ? decodeURIComponent(m[1]).split(",") : defaults;
    boxes.forEach(function (b) { b.checked = want[0] === "all" || want.indexOf(b.value) >= 0; });
    apply();
  }
  function toHash() {
    var on = boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
    var hash = on.length === boxes.length ? "#status=all" : "#status=" + on.join(",");
    if (on.join(" ") === defaults.join(" ")) { hash = ""; }
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

  // The reviewer's selection: chunk boxes hold it; file and directory boxes set and reflect theirs.
  var chunks = Array.prototype.slice.call(document.querySelectorAll("input[data-chunk]"));
  var groups = Array.prototype.slice.call(document.querySelectorAll("input[data-group]"));
  var download = document.getElementById("download-selection");
  if (!download) { return; }
  function chunksOf(test) {
    return chunks.filter(function (c) { return test(c.closest("section.file")); });
  }
  function reflect(box, members) {
    var kept = members.filter(function (c) { return c.checked; }).length;
    box.checked = kept === members.length;
    box.indeterminate = kept > 0 && kept < members.length;
  }
  function sync() {
    files.forEach(function (f) {
      var box = f.querySelector("input[data-file]");
      if (box) { reflect(box, chunksOf(function (s) { return s === f; })); }
    });
    groups.forEach(function (g) {
      var dir = g.getAttribute("data-group");
      reflect(g, chunksOf(function (s) { return s.getAttribute("data-group") === dir; }));
    });
    var kept = chunks.filter(function (c) { return c.checked; }).length;
    document.getElementById("kept-count").textContent = String(kept);
  }
  function setAll(members, on) {
    members.forEach(function (c) { c.checked = on; });
    sync();
  }
  chunks.forEach(function (c) { c.addEventListener("change", sync); });
  files.forEach(function (f) {
    var box = f.querySelector("input[data-file]");
    if (box) {
      box.addEventListener("change", function () {
        setAll(chunksOf(function (s) { return s === f; }), box.checked);
      });
    }
  });
  groups.forEach(function (g) {
    g.addEventListener("change", function () {
      var dir = g.getAttribute("data-group");
      setAll(chunksOf(function (s) { return s.getAttribute("data-group") === dir; }), g.checked);
    });
  });
  download.addEventListener("click", function () {
    var runId = document.getElementById("run-id").textContent;
    var ids = function (on) {
      return chunks.filter(function (c) { return c.checked === on; })
        .map(function (c) { return c.getAttribute("data-chunk"); });
    };
    var selection = {format: "codemill-selection/1", run_id: runId, kept: ids(true), left_out: ids(false)};
    var blob = new Blob([JSON.stringify(selection, null, 2) + "\n"], {type: "application/json"});
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "selection-" + runId + ".json";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
  });
  sync();
})();
