/* Sortable and filterable tables. Progressive enhancement: without JavaScript every table
   is complete and readable; this only adds header buttons, filters and a column chooser.
   Cells carry their raw value in data-sort so "1,234" sorts as a number and "–" last;
   headers carry data-key (the dimension or metric name) and data-label. */
(function () {
  "use strict";

  var each = function (list, fn) { Array.prototype.forEach.call(list, fn); };

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
    each(table.tHead.rows[0].cells, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  function makeSortable(table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    each(table.tHead.rows[0].cells, function (th, index) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.title = "Sort by this column";
      while (th.firstChild) { button.appendChild(th.firstChild); }
      th.appendChild(button);
      button.addEventListener("click", function () { sortBy(table, index, th); });
    });
  }

  // -- Filters. A condition is (column, operator, value); plain words match anywhere. --

  function squash(text) { return String(text).toLowerCase().replace(/[\s_-]+/g, ""); }

  // The column a filter names: by key (workers, journal_mode) or label (threads, journal).
  function findColumn(headers, name) {
    var wanted = squash(name);
    for (var i = 0; i < headers.length; i += 1) {
      var th = headers[i];
      if (squash(th.getAttribute("data-key") || "") === wanted ||
          squash(th.getAttribute("data-label") || "") === wanted) { return i; }
    }
    return -1;
  }

  function asNumber(text) {
    var t = String(text).replace(/,/g, "").trim();
    return t === "" || isNaN(Number(t)) ? null : Number(t);
  }

  // Does the cell satisfy "op value"? Numbers compare as numbers (4 is not 14 or 4.5),
  // "=" on text is equality of the shown text or the raw value, no operator is "contains".
  function cellMatches(cell, op, value) {
    if (!cell) { return false; }
    var text = cell.textContent.trim().toLowerCase();
    var raw = cell.getAttribute("data-sort");
    var wanted = value.toLowerCase();
    var n = asNumber(value);
    var have = asNumber(raw !== null ? raw : text);
    if (have === null) { have = asNumber(text); }
    if (op === ">" || op === "<" || op === ">=" || op === "<=") {
      if (n === null || have === null) { return false; }
      return op === ">" ? have > n : op === "<" ? have < n : op === ">=" ? have >= n : have <= n;
    }
    var equal = (n !== null && have !== null) ? have === n
      : text === wanted || (raw !== null && raw.toLowerCase() === wanted);
    if (op === "!=") { return !equal; }
    if (op === "=") { return equal; }
    return (n !== null && have !== null) ? equal : text.indexOf(wanted) !== -1;
  }

  var CONDITION = /^([^=<>!]+?)(!=|>=|<=|=|>|<)(.*)$/;
  var OPERATOR = /^(!=|>=|<=|=|>|<)?\s*(.*)$/;

  function parseQuery(query, headers) {
    var conditions = [], words = [], unknown = [];
    query.trim().split(/\s+/).filter(Boolean).forEach(function (token) {
      var m = CONDITION.exec(token);
      var index = m ? findColumn(headers, m[1]) : -1;
      if (m && index >= 0) {
        conditions.push({ index: index, op: m[2], value: m[3] });
      } else {
        if (m) { unknown.push(m[1]); }
        words.push(token.toLowerCase());
      }
    });
    return { conditions: conditions, words: words, unknown: unknown };
  }

  function addFilters(table) {
    var wrap = table.closest(".table-wrap");
    if (!wrap || !table.tHead) { return; }
    var headers = table.tHead.rows[0].cells;
    var rows = table.tBodies[0].rows;
    var tools = document.createElement("div");
    tools.className = "table-tools";
    var input = document.createElement("input");
    input.type = "search";
    input.placeholder = "Filter: workers=4 journal=wal throughput>1000 invalid";
    input.setAttribute("aria-label", "Filter table rows: words, or column=value");
    var count = document.createElement("span");
    count.className = "muted count";
    count.setAttribute("aria-live", "polite");

    // One filter box per column, in a second header row (it sticks with the labels).
    var filterRow = table.tHead.insertRow(-1);
    filterRow.className = "filters";
    var columnInputs = [];
    each(headers, function (th, index) {
      var cell = document.createElement("td");
      var box = document.createElement("input");
      box.type = "search";
      box.size = 4;
      var label = th.getAttribute("data-label") || th.textContent.trim();
      box.setAttribute("aria-label", "Filter by " + label + " (a value, or >, <, != a value)");
      box.title = box.getAttribute("aria-label");
      box.addEventListener("input", update);
      cell.appendChild(box);
      filterRow.appendChild(cell);
      columnInputs[index] = box;
    });

    function update() {
      var q = parseQuery(input.value, headers);
      columnInputs.forEach(function (box, index) {
        var m = OPERATOR.exec(box.value.trim());
        if (m && m[2] !== "") { q.conditions.push({ index: index, op: m[1] || "", value: m[2] }); }
      });
      var shown = 0;
      each(rows, function (row) {
        var text = row.textContent.toLowerCase();
        var match = q.words.every(function (w) { return text.indexOf(w) !== -1; }) &&
          q.conditions.every(function (c) { return cellMatches(row.cells[c.index], c.op, c.value); });
        row.hidden = !match;
        if (match) { shown += 1; }
      });
      count.textContent = shown + " of " + rows.length + " rows" + (q.unknown.length
        ? " · no column named " + q.unknown.join(", ") + " (searched as text)" : "");
    }
    input.addEventListener("input", update);
    tools.appendChild(input);
    tools.appendChild(count);
    tools.appendChild(columnChooser(table, headers));
    wrap.parentNode.insertBefore(tools, wrap);
    update();
  }

  // -- Column chooser: native checkboxes in a <details>, so it works by keyboard. ------

  function showColumn(table, index, shown) {
    each(table.rows, function (row) {
      if (row.cells[index]) { row.cells[index].classList.toggle("col-hidden", !shown); }
    });
  }

  function columnChooser(table, headers) {
    var details = document.createElement("details");
    details.className = "columns";
    var summary = document.createElement("summary");
    details.appendChild(summary);
    var box = document.createElement("fieldset");
    var legend = document.createElement("legend");
    legend.textContent = "Columns shown";
    box.appendChild(legend);
    function label() {
      var shown = Array.prototype.filter.call(headers, function (th) {
        return !th.classList.contains("col-hidden");
      }).length;
      summary.textContent = "Columns (" + shown + " of " + headers.length + ")";
    }
    each(headers, function (th, index) {
      var item = document.createElement("label");
      var check = document.createElement("input");
      check.type = "checkbox";
      // Secondary columns (left out in print) start hidden: the key ones fit a screen.
      check.checked = !th.classList.contains("secondary");
      check.setAttribute("data-column", th.getAttribute("data-key") || String(index));
      check.addEventListener("change", function () {
        showColumn(table, index, check.checked);
        label();
      });
      showColumn(table, index, check.checked);
      item.appendChild(check);
      item.appendChild(document.createTextNode(" " + (th.getAttribute("data-label") ||
                                                        th.textContent.trim())));
      box.appendChild(item);
    });
    details.appendChild(box);
    label();
    return details;
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    makeSortable(table);
    if (table.classList.contains("filterable")) { addFilters(table); }
  });
})();
