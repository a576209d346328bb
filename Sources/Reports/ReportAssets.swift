/// The page's inline stylesheet and script. Neither contains `<` or `&`, so the page stays
/// well-formed XML (the script is additionally wrapped in a CDATA section by the page).
enum ReportAssets {
    static let css = """
    :root { --ink: #111827; --muted: #6b7280; --line: #e5e7eb; --bg: #f4f5f7; --card: #ffffff;
      --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace; }
    * { box-sizing: border-box; }
    body { margin: 0; padding: 26px 32px 36px; background: var(--bg); color: var(--ink);
      font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "DejaVu Sans", Arial, sans-serif; }
    header h1 { font-size: 22px; margin: 0 0 4px; font-weight: 650; letter-spacing: -0.01em; }
    .meta { color: var(--muted); margin: 0 0 18px; font-size: 13px; }
    code { font: 12px/1.4 var(--mono); background: #eceef1; padding: 1px 5px; border-radius: 4px; }
    .stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(128px, 1fr)); gap: 12px; margin-bottom: 16px; }
    .stat { background: var(--card); border-radius: 10px; padding: 11px 14px 10px; border-top: 4px solid #cbd5e1;
      box-shadow: 0 1px 2px rgba(16, 24, 40, 0.06); }
    .stat .value { font-size: 28px; font-weight: 700; line-height: 1.15; font-variant-numeric: tabular-nums; }
    .stat .label { font-size: 11px; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted); margin-top: 2px; }
    .stat .sub { font-size: 12px; color: var(--muted); }
    .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(500px, 1fr)); gap: 16px; margin-bottom: 16px; }
    .card { background: var(--card); border-radius: 10px; padding: 14px 18px 12px; box-shadow: 0 1px 2px rgba(16, 24, 40, 0.06); }
    .card h2 { font-size: 14px; margin: 0 0 10px; font-weight: 600; }
    svg.chart { display: block; height: auto; overflow: visible; }
    .card.wide { grid-column: 1 / -1; }
    .legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; color: var(--muted); margin-top: 8px; }
    .legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
    .legend .caption { margin-left: auto; }
    .tasks-head { display: flex; align-items: center; gap: 14px; flex-wrap: wrap; margin-bottom: 6px; }
    .tasks-head h2 { margin: 0; }
    #filter { font: inherit; font-size: 13px; padding: 4px 9px; border: 1px solid #d1d5db; border-radius: 6px; width: 270px; }
    .hint { color: var(--muted); font-size: 12px; }
    .row { display: grid; gap: 10px; align-items: center; padding: 7px 8px;
      grid-template-columns: minmax(180px, 2.2fr) minmax(110px, 1.4fr) 62px 84px minmax(130px, 2fr) 40px 40px 66px minmax(150px, 1.6fr); }
    .row.head { font-size: 11px; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted);
      border-bottom: 2px solid var(--line); padding-bottom: 6px; }
    .row.head span[data-type="text"], .row.head span[data-type="num"] { cursor: pointer; user-select: none; }
    .row.head span:hover { color: var(--ink); }
    .row.head span[aria-sort="ascending"]::after { content: " \\25B2"; }
    .row.head span[aria-sort="descending"]::after { content: " \\25BC"; }
    .row.head span:nth-child(6), .row.head span:nth-child(7), .row.head span:nth-child(8) { text-align: right; }
    .row.head span:nth-child(8) { white-space: nowrap; }
    details.task { border-bottom: 1px solid var(--line); }
    details.task > summary { list-style: none; cursor: pointer; }
    details.task > summary::-webkit-details-marker { display: none; }
    details.task > summary:hover { background: #f9fafb; }
    details.task[open] > summary { background: #f1f5f9; }
    .row span { min-width: 0; overflow-wrap: anywhere; }
    .id { font: 12px/1.35 var(--mono); }
    .id::before { content: "\\25B8"; color: #9ca3af; display: inline-block; width: 14px; }
    details[open] .id::before { content: "\\25BE"; }
    .num { text-align: right; font-variant-numeric: tabular-nums; }
    .pill { color: #fff; font-size: 11px; font-weight: 600; padding: 2px 9px; border-radius: 999px; white-space: nowrap; }
    .reason { color: #374151; }
    a.log, span.log { display: inline-block; font: 11px/1.5 var(--mono); color: #1d4ed8; text-decoration: none;
      background: #eff6ff; border-radius: 4px; padding: 0 5px; margin: 1px 0; white-space: nowrap; }
    .logs .phase { font-size: 11px; color: var(--muted); margin-right: 3px; }
    .logs .phase ~ .phase { margin-left: 6px; }
    .logs a.log { margin-right: 2px; }
    a.log:hover { background: #dbeafe; }
    a.log.timeout { background: #fef3c7; color: #92400e; }
    a.log.missing, span.log.none { color: #9ca3af; background: #f3f4f6; text-decoration: line-through; }
    .detail { padding: 2px 14px 16px 30px; background: #fafbfc; border-top: 1px solid var(--line); }
    .detail h3 { font-size: 11px; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted); margin: 14px 0 6px; }
    .detail .why { margin: 12px 0 0; }
    .detail .facts { color: var(--muted); font-size: 12px; margin: 6px 0 0; }
    .detail .tests code { display: inline-block; margin: 0 4px 4px 0; }
    .runs { margin: 0; padding-left: 18px; font-size: 13px; }
    pre { margin: 0; font: 12px/1.5 var(--mono); background: #fff; border: 1px solid var(--line); border-radius: 6px;
      padding: 8px 10px; overflow: auto; max-height: 420px; }
    pre.statement { white-space: pre-wrap; font-family: inherit; font-size: 13px; line-height: 1.5; max-height: 260px; }
    .diff span { display: inline-block; min-width: 100%; }
    .diff .add { background: #e9fbe9; color: #14532d; }
    .diff .del { background: #fdecec; color: #7f1d1d; }
    .diff .hunk { color: #6d28d9; background: #f5f3ff; }
    .diff .file { color: #111827; font-weight: 600; }
    .diff .cut { color: var(--muted); font-style: italic; }
    .empty { color: var(--muted); padding: 12px 8px; }
    footer { color: var(--muted); font-size: 12px; margin-top: 16px; }
    """

    static let script = """
    (function () {
      var list = document.getElementById("task-list");
      if (!list) return;
      var heads = list.querySelectorAll(".head span");
      function key(row, column) { return row.querySelector("summary").children[column].getAttribute("data-sort"); }
      heads.forEach(function (head) {
        var type = head.getAttribute("data-type");
        if (type === "none") return;
        head.addEventListener("click", function () {
          var column = Number(head.getAttribute("data-col"));
          var ascending = head.getAttribute("aria-sort") !== "ascending";
          heads.forEach(function (other) { other.removeAttribute("aria-sort"); });
          head.setAttribute("aria-sort", ascending ? "ascending" : "descending");
          var rows = Array.prototype.slice.call(list.querySelectorAll("details.task"));
          rows.sort(function (a, b) {
            var x = key(a, column), y = key(b, column);
            var order = type === "num" ? parseFloat(x) - parseFloat(y) : x.localeCompare(y, undefined, { numeric: true });
            return ascending ? order : -order;
          });
          rows.forEach(function (row) { list.appendChild(row); });
        });
      });
      var filter = document.getElementById("filter");
      filter.addEventListener("input", function () {
        var words = filter.value.toLowerCase().split(/\\s+/).filter(Boolean);
        list.querySelectorAll("details.task").forEach(function (row) {
          var text = row.querySelector("summary").textContent.toLowerCase();
          row.hidden = !words.every(function (word) { return text.indexOf(word) !== -1; });
        });
      });
    })();
    """
}
