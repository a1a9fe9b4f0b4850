(function () {
  "use strict";
  function value(cell, kind) {
    if (kind === "num") {
      var raw = cell.getAttribute("data-v");
      var v = parseFloat(raw === null ? cell.textContent.replace(/,/g, "") : raw);
      return isNaN(v) ? -Infinity : v;
    }
    return cell.textContent.toLowerCase();
  }
  document.querySelectorAll("table.sortable th[data-sort]").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var table = th.closest("table"), body = table.tBodies[0], kind = th.getAttribute("data-sort");
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = value(a.cells[column], kind), y = value(b.cells[column], kind);
        return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
  var filter = document.getElementById("class-filter");
  if (filter) {
    filter.addEventListener("input", function () {
      var needle = filter.value.toLowerCase();
      document.querySelectorAll("#class-table tbody tr").forEach(function (row) {
        row.style.display = row.cells[0].textContent.toLowerCase().indexOf(needle) === -1 ? "none" : "";
      });
    });
  }
})();
