"use strict";
// Sorting, filters, groups that expand in place, and the evidence panel. Evidence is loaded per row
// on demand, as a <script> (which works from file://, where fetch does not). Server text only ever
// reaches the page as text nodes (never innerHTML).
(() => {
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));
  const meta = JSON.parse($("#meta").textContent);
  const table = $("#matrix");
  const body = table.tBodies[0];
  const panel = $("#panel");
  const panelBody = $("#panel-body");
  const modelFilter = $("#model-filter");
  const driftOnly = $("#drift-only");
  const capabilities = new Set();
  const loaded = new Map(); // "provider\u0000model" -> Map(probe -> evidence)
  const loading = new Map(); // script src -> Promise
  const order = $$("tr", body);
  let selected = null;
  let sorted = { key: null, descending: false };

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

  // Filters -------------------------------------------------------------------------------------
  function applyFilters() {
    const terms = modelFilter.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const row of order) {
      const label = `${row.dataset.provider} ${row.dataset.model}`.toLowerCase();
      let hit = capabilities.size === 0 && !driftOnly.checked;
      for (const cell of row.querySelectorAll("td.gc")) {
        const match = (capabilities.size === 0 || capabilities.has(cell.dataset.cap)) && (!driftOnly.checked || cell.dataset.drift !== undefined);
        cell.classList.toggle("dim", !match);
        if (match) hit = true;
      }
      const visible = hit && terms.every((term) => label.includes(term));
      row.classList.toggle("off", !visible);
      shown += visible ? 1 : 0;
    }
    $("#shown").textContent = shown === order.length ? `${order.length} models` : `${shown} of ${order.length} models`;
  }

  for (const button of $$(".lg")) {
    button.addEventListener("click", () => {
      const pressed = button.getAttribute("aria-pressed") !== "true";
      button.setAttribute("aria-pressed", String(pressed));
      if (pressed) capabilities.add(button.dataset.cap);
      else capabilities.delete(button.dataset.cap);
      applyFilters();
    });
  }
  modelFilter.addEventListener("input", applyFilters);
  driftOnly.addEventListener("change", applyFilters);
  $("#reset").addEventListener("click", () => {
    capabilities.clear();
    modelFilter.value = "";
    driftOnly.checked = false;
    for (const button of $$(".lg")) button.setAttribute("aria-pressed", "false");
    setExpanded(null, false);
    sortBy(null);
    applyFilters();
  });

  // Groups expand in place ------------------------------------------------------------------------
  // An open group's header and verdicts are marked `open`: while one is, the others fold to a narrow strip.
  function setExpanded(group, open) {
    for (const button of $$(".exp")) {
      if (group === null || button.dataset.g === group) {
        table.classList.toggle(`x${button.dataset.g}`, open);
        button.setAttribute("aria-expanded", String(open));
        for (const cell of $$(`th.gh[data-g="${button.dataset.g}"], td.gc[data-g="${button.dataset.g}"]`, table)) {
          cell.classList.toggle("open", open);
        }
      }
    }
    table.classList.toggle("opened", $$(".exp[aria-expanded='true']").length > 0);
  }
  for (const button of $$(".exp")) {
    button.addEventListener("click", () => setExpanded(button.dataset.g, button.getAttribute("aria-expanded") !== "true"));
  }
  $("#expand-all").addEventListener("click", () => setExpanded(null, true));
  $("#collapse-all").addEventListener("click", () => setExpanded(null, false));

  // A group cell's verdict and reason, shown beside it on focus (keyboard, or a tap) and on hover; a screen
  // reader hears the same text as the cell's description (aria-describedby), so the tip itself is aria-hidden.
  const tip = $("#tip");
  let tipped = null;

  function showTip(cell) {
    tipped = cell;
    tip.replaceChildren(...Array.from($(".why", cell).childNodes, (node) => node.cloneNode(true))); // our own markup
    tip.hidden = false;
    const box = cell.getBoundingClientRect();
    const below = box.bottom + 4;
    tip.style.left = `${Math.max(4, Math.min(box.left, innerWidth - tip.offsetWidth - 4))}px`;
    tip.style.top = `${below + tip.offsetHeight <= innerHeight ? below : Math.max(4, box.top - tip.offsetHeight - 4)}px`;
  }

  function hideTip() {
    tipped = null;
    tip.hidden = true;
  }

  function focusedGroup() {
    return table.contains(document.activeElement) ? document.activeElement.closest("td.gc") : null;
  }

  table.addEventListener("focusin", (event) => {
    const cell = event.target.closest("td.gc");
    if (cell) showTip(cell);
    else hideTip();
  });
  table.addEventListener("focusout", (event) => {
    if (!event.relatedTarget?.closest?.("td.gc")) hideTip();
  });
  table.addEventListener("mouseover", (event) => {
    const cell = event.target.closest("td.gc");
    if (cell && cell !== tipped) showTip(cell);
  });
  table.addEventListener("mouseout", (event) => {
    const cell = event.target.closest("td.gc");
    if (!cell || cell.contains(event.relatedTarget)) return;
    const focused = focusedGroup();
    if (focused) showTip(focused);
    else hideTip();
  });
  document.addEventListener("scroll", () => tipped && showTip(tipped), { capture: true, passive: true });

  // Sorting ---------------------------------------------------------------------------------------
  function sortKey(row, key) {
    if (key === "model") return `${row.dataset.model}\u0000${row.dataset.provider}`.toLowerCase();
    if (key === "score") return Number(row.dataset.score);
    const cell = row.querySelector(`td.gc[data-g="${key}"]`);
    const n = Number(cell.dataset.n);
    return Number(cell.dataset.rank) * 10 + (n ? Number(cell.dataset.k) / n : 0);
  }

  function sortBy(key) {
    const descending = key !== null && sorted.key === key ? !sorted.descending : key !== null && key !== "model";
    sorted = { key, descending };
    const rows = order.slice();
    if (key !== null) {
      const keyed = rows.map((row, i) => [sortKey(row, key), i, row]);
      keyed.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]) * (descending && a[0] !== b[0] ? -1 : 1));
      rows.splice(0, rows.length, ...keyed.map((entry) => entry[2]));
    }
    body.append(...rows);
    for (const th of $$("thead th[aria-sort]", table)) th.setAttribute("aria-sort", "none");
    const th = key === null ? null : key === "model" || key === "score" ? $("th.corner", table) : $(`th.gh[data-g="${key}"]`, table);
    if (th) th.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }
  for (const button of $$(".sort")) button.addEventListener("click", () => sortBy(button.dataset.sort));

  // Evidence --------------------------------------------------------------------------------------
  window[meta.callback] = (data) => {
    const cells = inflate(data.cells).then(
      (list) => new Map(list.map((cell) => [cell.probe, cell])),
      () => { throw new Error("This model's evidence file is damaged: `conformance report` on the run's folder writes it again."); },
    );
    cells.catch(() => {}); // said when a cell of the model opens, not before
    loaded.set(`${data.provider}\u0000${data.model}`, cells);
  };

  async function inflate(packed) { // gzipped JSON in base64 (report/evidence.py, `packed`)
    const bytes = Uint8Array.from(atob(packed), (c) => c.charCodeAt(0));
    const json = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return JSON.parse(await new Response(json).text());
  }

  function loadRow(row) {
    const src = row.dataset.ev;
    if (!loading.has(src)) {
      loading.set(src, new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = src;
        script.onload = resolve;
        script.onerror = () => {
          loading.delete(src);
          reject(new Error(`Cannot load ${src}: the evidence files sit beside matrix.html.`));
        };
        document.head.append(script);
      }));
    }
    return loading.get(src).then(() => loaded.get(`${row.dataset.provider}\u0000${row.dataset.model}`) ?? new Map());
  }

  function chipOf(cell) {
    const chip = el("span", `chip ${Array.from(cell.classList).find((c) => c.startsWith("s-"))}`);
    for (const node of cell.childNodes) {
      if (!(node instanceof Element && node.matches(".flags, .decides"))) chip.append(node.cloneNode(true));
    }
    return chip;
  }

  function claimText(claim) {
    if (!claim || typeof claim !== "object") return null;
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
    if (e.deprecated) out.append(el("span", "flag", `DEPRECATED: ${e.deprecated}`));
    return out;
  }

  function keyValues(pairs) {
    return el("table", "kv", pairs.map(([k, v]) => el("tr", null, el("td", null, k), el("td", null, v))));
  }

  function bodyOf(title, text, note) {
    return [el("h4", null, title, text ? "" : " (empty)"), text ? el("pre", null, laidOut(text)) : null, note ? el("p", "note", note) : null];
  }

  const TOKEN = /"(?:[^"\\]|\\.)*"|[{}\[\],:]|[^\s{}\[\],:"]+/g;

  // JSON laid out one value per line, every token as sent: a re-serialisation would turn 1.0e2 into 100
  // and merge duplicate keys, which is evidence. Any other text (or JSON cut short) is shown as is.
  function laidOut(text) {
    const head = text.trimStart()[0];
    if (head !== "{" && head !== "[") return text;
    try { JSON.parse(text); } catch (e) { return text; }
    const tokens = text.match(TOKEN) || [];
    const out = [];
    let depth = 0;
    tokens.forEach((token, i) => {
      if (token === "}" || token === "]") {
        depth -= 1;
        if (tokens[i - 1] !== "{" && tokens[i - 1] !== "[") out.push("\n" + "  ".repeat(depth));
      }
      out.push(token);
      if (token === "{" || token === "[") {
        depth += 1;
        if (tokens[i + 1] !== "}" && tokens[i + 1] !== "]") out.push("\n" + "  ".repeat(depth));
      } else if (token === ",") {
        out.push("\n" + "  ".repeat(depth));
      } else if (token === ":") {
        out.push(" ");
      }
    });
    return out.join("");
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
      bodyOf("Request body", x.request_body, x.request_body_note),
      el("h4", null, "Response"),
      el("p", null, el("b", null, answer),
        el("span", "latency", ` · first byte ${ms(x.first_byte_ms)} · total ${ms(x.elapsed_ms)}`)),
      x.error ? el("p", "err", x.error) : null,
      el("details", null, el("summary", null, `Response headers (${x.headers.length})`), keyValues(x.headers)),
      x.events ? events(x) : bodyOf("Response body", x.body, x.body_note),
    ];
  }

  function attempts(list) {
    const items = list.map((a) => el("li", null, a && typeof a === "object" && "status" in a ? `${a.status} ` : "",
      el("code", null, JSON.stringify(a))));
    return [el("h3", null, `Attempts (${list.length})`), el("ol", null, items)];
  }

  // A title's or a finding's `spans` as <code>, as its Markdown means them; each part is a text node. Odd
  // backticks pair nothing.
  function inlineCode(text) {
    const parts = text.split("`");
    return parts.length % 2 ? parts.map((part, i) => (i % 2 ? el("code", null, part) : part)) : [text];
  }

  function link(href, text) {
    const a = el("a", null, text);
    a.href = href; // relative to matrix.html, so it opens from file:// as from a server
    return a;
  }

  function heading(row, cell) {
    const probe = cell.dataset.p;
    const [title, feature, page] = meta.probes[probe] ?? ["", "", null];
    return [
      el("h2", null, probe),
      el("p", null, inlineCode(title)),
      el("p", "who", `${row.dataset.provider} · ${row.dataset.model} · ${feature}`),
      el("p", "pages", link($("a.model", row).getAttribute("href"), `${row.dataset.model}: every probe`),
        page ? [" · ", link(page, `${probe}: every model`)] : null),
      el("div", "statusline", chipOf(cell), $(".flags", cell)?.cloneNode(true) ?? null,
        cell.classList.contains("dec") ? el("span", "flag", `decides the ${feature} verdict`) : null),
      cell.title ? el("p", meta.clean.includes(cell.dataset.s) ? "note" : "reason", cell.title) : null, // last: see marked
    ];
  }

  // The heading's last line, the cell's title attribute, has its backticks taken out; the evidence has the
  // title as written when it has any, and its `spans` show as <code> once it is loaded.
  function marked(head, e) {
    const line = head.at(-1);
    if (line && e.title) line.replaceChildren(...inlineCode(e.title));
  }

  function details(e) {
    const findings = e.findings.length
      ? el("table", "findings", e.findings.map((f) => el("tr", null,
        el("td", null, f.rule), el("td", null, el("span", `lvl lvl-${f.level}`, f.level)), el("td", null, inlineCode(f.message)))))
      : el("p", "muted", "No findings.");
    return [
      el("div", "statusline", flags(e), e.change ? el("span", "muted", `baseline: ${e.change.old ?? "absent"} (${e.change.kind})`) : null),
      e.semantic_off ? el("p", "note", "Semantic checks off: the answer was not judged on its meaning.") : null,
      el("h3", null, `Findings (${e.findings.length})`),
      findings,
      Array.isArray(e.attempts) ? attempts(e.attempts) : null,
      e.exchanges.length ? e.exchanges.map((x, i) => exchange(x, i, e.exchanges.length)) : el("p", "muted", "No exchange was recorded."),
    ];
  }

  function show(nodes) {
    panelBody.replaceChildren(...nodes.flat(Infinity).filter(Boolean));
  }

  function open(cell) {
    const row = cell.closest("tr");
    if (selected) selected.classList.remove("sel");
    selected = cell;
    cell.classList.add("sel");
    const head = heading(row, cell);
    const status = el("p", "muted loading", "Loading the evidence…");
    show([head, status]);
    panel.hidden = false;
    panel.scrollTop = 0;
    panel.focus({ preventScroll: true }); // a keyboard user reads the evidence next, not the rest of the table
    history.replaceState(null, "", `#cell=${encodeURIComponent(JSON.stringify([row.dataset.provider, row.dataset.model, cell.dataset.p]))}`);
    loadRow(row).then((cells) => {
      if (selected !== cell) return;
      const e = cells.get(cell.dataset.p);
      if (e) marked(head, e);
      show([head, e ? details(e) : el("p", "err", "This cell is missing from its evidence file.")]);
      panel.dataset.loaded = "true";
    }, (error) => {
      if (selected === cell) show([head, el("p", "err", error.message)]);
    });
  }

  function close() {
    panel.hidden = true;
    delete panel.dataset.loaded;
    if (selected) {
      selected.classList.remove("sel");
      selected.focus({ preventScroll: true }); // back where the reader left the table
    }
    selected = null;
    history.replaceState(null, "", location.pathname + location.search);
  }

  function activate(target) {
    const probeCell = target.closest("td.pc[data-p]");
    if (probeCell) return open(probeCell);
    const groupCell = target.closest("td.gc");
    if (groupCell) {
      const g = groupCell.dataset.g;
      setExpanded(g, !table.classList.contains(`x${g}`));
      if (tipped) showTip(tipped); // its probes opened beside it: the cell may have moved
    }
  }
  table.addEventListener("click", (event) => activate(event.target));
  table.addEventListener("keydown", (event) => {
    if ((event.key === "Enter" || event.key === " ") && event.target.closest("td.pc[data-p], td.gc")) {
      event.preventDefault();
      activate(event.target);
    }
  });
  $("#panel-close").addEventListener("click", close);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) close();
    else if (event.key === "Escape") hideTip();
  });

  function openFromHash() {
    if (!location.hash.startsWith("#cell=")) return;
    let wanted;
    try {
      wanted = JSON.parse(decodeURIComponent(location.hash.slice(6)));
    } catch {
      return;
    }
    if (!Array.isArray(wanted) || wanted.length !== 3) return;
    const row = order.find((tr) => tr.dataset.provider === wanted[0] && tr.dataset.model === wanted[1]);
    const cell = row && Array.from(row.querySelectorAll("td.pc[data-p]")).find((td) => td.dataset.p === wanted[2]);
    if (cell) {
      setExpanded(cell.dataset.g, true);
      open(cell);
      cell.scrollIntoView({ block: "center", inline: "center" });
    }
  }

  applyFilters();
  openFromHash();
  window.addEventListener("hashchange", openFromHash); // the links of the versus-baseline list
})();
