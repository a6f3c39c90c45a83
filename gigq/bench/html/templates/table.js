/* Sortable and filterable tables. Progressive enhancement: without JavaScript every table
   is complete and readable; this only adds header buttons and a filter box.
   Cells carry their raw value in data-sort so "1,234" sorts as a number and "–" last. */
(function () {
  "use strict";

  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) { return ""; }
    var raw = cell.getAttribute("data-sort");
    return raw === null ? cell.textContent.trim() : raw;
  }

  function isEmpty(v) { return v === "" || v === "–"; }

  function compare(a, b) {
    if (isEmpty(a) || isEmpty(b)) { return isEmpty(a) - isEmpty(b); }
    var x = Number(a), y = Number(b);
    if (!isNaN(x) && !isNaN(y)) { return x - y; }
    return String(a).localeCompare(String(b), undefined, { numeric: true });
  }

  function sortBy(table, index, header) {
    var body = table.tBodies[0];
    var descending = header.getAttribute("aria-sort") === "ascending";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r1, r2) {
      var v1 = cellValue(r1, index), v2 = cellValue(r2, index);
      var order = compare(v1, v2);
      // Missing values stay at the bottom whichever way the column is sorted.
      return (isEmpty(v1) || isEmpty(v2) || !descending) ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.removeAttribute("aria-sort");
    });
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  function makeSortable(table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.title = "Sort by this column";
      while (th.firstChild) { button.appendChild(th.firstChild); }
      th.appendChild(button);
      button.addEventListener("click", function () { sortBy(table, index, th); });
    });
  }

  function addFilter(table) {
    var wrap = table.closest(".table-wrap");
    if (!wrap) { return; }
    var tools = document.createElement("div");
    tools.className = "table-tools";
    var input = document.createElement("input");
    input.type = "search";
    input.placeholder = "Filter rows (e.g. wal, invalid, io)";
    input.setAttribute("aria-label", "Filter table rows");
    var count = document.createElement("span");
    count.className = "muted";
    var rows = table.tBodies[0].rows;
    function update() {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      Array.prototype.forEach.call(rows, function (row) {
        var text = row.textContent.toLowerCase();
        var match = words.every(function (w) { return text.indexOf(w) !== -1; });
        row.hidden = !match;
        if (match) { shown += 1; }
      });
      count.textContent = shown + " of " + rows.length + " rows";
    }
    input.addEventListener("input", update);
    tools.appendChild(input);
    tools.appendChild(count);
    wrap.parentNode.insertBefore(tools, wrap);
    update();
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    makeSortable(table);
    if (table.classList.contains("filterable")) { addFilter(table); }
  });
})();
