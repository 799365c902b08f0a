"use strict";
// Filters and the evidence panel. Server text only ever reaches the page as text nodes (never innerHTML).
(() => {
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));
  const { probes, cells: evidence } = JSON.parse($("#evidence").textContent);
  const meanings = new Map($$(".lg").map((b) => [b.dataset.status, $(".meaning", b).textContent]));
  const table = $("#matrix");
  const panel = $("#panel");
  const panelBody = $("#panel-body");
  const modelFilter = $("#model-filter");
  const statuses = new Set();
  const hiddenGroups = new Set();
  let selected = null;

  function el(tag, className, ...children) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    for (const child of children.flat(Infinity)) {
      if (child !== null && child !== undefined && child !== false) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function ms(value) {
    if (typeof value !== "number") return "–";
    return value < 1000 ? `${value.toFixed(1)} ms` : `${(value / 1000).toFixed(2)} s`;
  }

  function applyFilters() {
    const terms = modelFilter.value.toLowerCase().split(/\s+/).filter(Boolean);
    for (const node of $$("[data-g]", table)) node.classList.toggle("off", hiddenGroups.has(node.dataset.g));
    const rows = $$("tbody tr", table);
    let shown = 0;
    for (const row of rows) {
      const label = $$(".prov, .model", row.cells[0]).map((node) => node.textContent).join(" ").toLowerCase();
      let hasMatch = statuses.size === 0;
      for (const cell of row.querySelectorAll("td.c")) {
        const hit = statuses.size === 0 || statuses.has(cell.dataset.s);
        cell.classList.toggle("dim", !hit);
        if (hit && cell.dataset.s !== undefined && !hiddenGroups.has(cell.dataset.g)) hasMatch = true;
      }
      const visible = hasMatch && terms.every((term) => label.includes(term));
      row.classList.toggle("off", !visible);
      shown += visible ? 1 : 0;
    }
    $("#shown").textContent = shown === rows.length ? `${rows.length} rows` : `${shown} of ${rows.length} rows`;
  }

  function toggle(button, set, value, pressedMeansIn) {
    const pressed = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", String(pressed));
    if (pressed === pressedMeansIn) set.add(value);
    else set.delete(value);
    applyFilters();
  }

  for (const button of $$(".lg")) button.addEventListener("click", () => toggle(button, statuses, button.dataset.status, true));
  for (const button of $$(".fg")) button.addEventListener("click", () => toggle(button, hiddenGroups, button.dataset.group, false));
  modelFilter.addEventListener("input", applyFilters);
  $("#reset").addEventListener("click", () => {
    statuses.clear();
    hiddenGroups.clear();
    modelFilter.value = "";
    for (const button of $$(".lg")) button.setAttribute("aria-pressed", "false");
    for (const button of $$(".fg")) button.setAttribute("aria-pressed", "true");
    applyFilters();
  });

  function chipOf(cell) {
    const chip = el("span", `chip ${Array.from(cell.classList).find((c) => c.startsWith("s-"))}`);
    for (const node of cell.childNodes) {
      if (!(node instanceof Element && node.classList.contains("flags"))) chip.append(node.cloneNode(true));
    }
    return chip;
  }

  function claimText(claim) {
    if (claim === undefined || claim === null) return null;
    if (typeof claim !== "object") return `claimed: ${claim}`;
    if (claim.claim === "unknown") return null;
    const source = claim.source ? ` (${claim.source})` : "";
    return `claimed: ${claim.claim}${source}${claim.note ? `: ${claim.note}` : ""}`;
  }

  function flags(e) {
    const out = el("span", "flags");
    const claim = claimText(e.claim);
    if (claim) out.append(el("span", "claim", claim));
    if (e.drift) out.append(el("span", "drift", "DRIFT"));
    if (e.flaky) out.append(el("span", "flag", "FLAKY"));
    if (e.tries) out.append(el("span", "flag", `semantic tries ${e.tries}`));
    if (e.deprecated !== undefined) out.append(el("span", "flag", `DEPRECATED: ${e.deprecated}`));
    return out;
  }

  function keyValues(pairs) {
    return el("table", "kv", pairs.map(([k, v]) => el("tr", null, el("td", null, k), el("td", null, v))));
  }

  function body(title, text, note) {
    return [el("h4", null, title, text ? "" : " (empty)"), text ? el("pre", null, text) : null, note ? el("p", "note", note) : null];
  }

  function events(x) {
    const rows = x.events.map((ev) => el("tr", null,
      el("td", null, ms(ev.offset_ms)),
      el("td", null, ev.event ?? "(message)", ev.id !== undefined ? ` #${ev.id}` : "", ev.retry !== undefined ? ` retry ${ev.retry}` : ""),
      el("td", null, ev.data)));
    return [
      el("h4", null, `Events (${x.events.length})`),
      el("div", "events-wrap", el("table", "events", rows)),
      x.events_note ? el("p", "note", x.events_note) : null,
    ];
  }

  function exchange(x, index, total) {
    const answer = x.status === null || x.status === undefined ? "no response" : `HTTP ${x.status}`;
    return [
      el("h3", null, `Exchange ${index + 1} of ${total}`),
      el("p", "reqline", el("b", null, x.method), x.url),
      el("details", null, el("summary", null, `Request headers (${x.request_headers.length})`), keyValues(x.request_headers)),
      body("Request body", x.request_body, x.request_body_note),
      el("h4", null, "Response"),
      el("p", null, el("b", null, answer),
        el("span", "latency", ` · first byte ${ms(x.first_byte_ms)} · total ${ms(x.elapsed_ms)}`)),
      x.error ? el("p", "err", x.error) : null,
      el("details", null, el("summary", null, `Response headers (${x.headers.length})`), keyValues(x.headers)),
      x.events ? events(x) : body("Response body", x.body, x.body_note),
    ];
  }

  function attempts(list) {
    const items = list.map((a) => el("li", null, a && typeof a === "object" && "status" in a ? `${a.status} ` : "",
      el("code", null, JSON.stringify(a))));
    return [el("h3", null, `Attempts (${list.length})`), el("ol", null, items)];
  }

  function render(e, cell) {
    const findings = e.findings.length
      ? el("table", "findings", e.findings.map((f) => el("tr", null,
        el("td", null, f.rule), el("td", null, el("span", `lvl lvl-${f.level}`, f.level)), el("td", null, f.message))))
      : el("p", "muted", "No findings.");
    const change = e.change ? el("span", "muted", `baseline: ${e.change.old ?? "absent"} (${e.change.kind})`) : null;
    const probe = probes[e.probe] ?? { title: "", feature: "" };
    return [
      el("h2", null, e.probe),
      el("p", null, probe.title),
      el("p", "who", `${e.provider} · ${e.model} · ${probe.feature}`),
      el("div", "statusline", chipOf(cell), el("span", "muted", meanings.get(e.status) ?? ""), flags(e), change),
      e.semantic_off ? el("p", "note", "Semantic checks off: the answer was not judged on its meaning.") : null,
      el("h3", null, `Findings (${e.findings.length})`),
      findings,
      Array.isArray(e.attempts) ? attempts(e.attempts) : null,
      e.exchanges.length ? e.exchanges.map((x, i) => exchange(x, i, e.exchanges.length)) : el("p", "muted", "No exchange was recorded."),
    ];
  }

  function cellKey(e) {
    return JSON.stringify([e.provider, e.model, e.probe]);
  }

  function open(cell) {
    const e = evidence[Number(cell.dataset.i)];
    if (selected) selected.classList.remove("sel");
    selected = cell;
    cell.classList.add("sel");
    panelBody.replaceChildren(...render(e, cell).flat(Infinity).filter(Boolean));
    panel.hidden = false;
    panel.scrollTop = 0;
    history.replaceState(null, "", `#cell=${encodeURIComponent(cellKey(e))}`);
  }

  function close() {
    panel.hidden = true;
    if (selected) selected.classList.remove("sel");
    selected = null;
    history.replaceState(null, "", location.pathname + location.search);
  }

  table.addEventListener("click", (event) => {
    const cell = event.target.closest("td.c[data-i]");
    if (cell) open(cell);
  });
  table.addEventListener("keydown", (event) => {
    const cell = event.target.closest("td.c[data-i]");
    if (cell && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      open(cell);
    }
  });
  $("#panel-close").addEventListener("click", close);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) close();
  });

  function openFromHash() {
    if (!location.hash.startsWith("#cell=")) return;
    const wanted = decodeURIComponent(location.hash.slice(6));
    const index = evidence.findIndex((e) => cellKey(e) === wanted);
    const cell = index < 0 ? null : $(`td.c[data-i="${index}"]`, table);
    if (cell) {
      open(cell);
      cell.scrollIntoView({ block: "center", inline: "center" });
    }
  }

  applyFilters();
  openFromHash();
})();
