// The report page: draws the embedded figures, the node table and each node's page (#node-<id>).
// Every text from the run is inserted with textContent, never as markup: node names, analyses and programs
// come from models and candidates.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const byId = new Map(data.nodes.map((n) => [n.id, n]));
  const colours = data.status_colours;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key === "onclick") node.addEventListener("click", value);
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
    }
    return node;
  }
  const fmt = (score) => (score === null || score === undefined ? "-" : Number(score).toPrecision(8).replace(/\.?0+$/, ""));
  const nodeLink = (id) => el("a", { href: "#node-" + id }, "node " + id);
  const badge = (status) => el("span", { class: "status", style: "background:" + (colours[status] || "#64748b") }, status);

  function drawFigures() {
    for (const fig of data.figures) {
      const div = document.getElementById(fig.id);
      if (!div) continue;
      Plotly.newPlot(div, fig.figure.data, fig.figure.layout, { responsive: true, displaylogo: false });
      div.on("plotly_click", (event) => {
        const point = event.points && event.points[0];
        const id = point && point.customdata;
        if (typeof id === "number" && byId.has(id)) location.hash = "node-" + id;
      });
    }
  }

  function nodeTable() {
    const body = document.querySelector("#node-table tbody");
    const filter = document.getElementById("node-filter");
    if (!body || !filter) return;
    function fill() {
      const needle = filter.value.trim().toLowerCase();
      body.replaceChildren();
      for (const n of data.nodes) {
        const hay = [n.id, n.key, n.status, n.name, n.provenance.source].join(" ").toLowerCase();
        if (needle && !hay.includes(needle)) continue;
        body.appendChild(el("tr", {}, el("td", {}, nodeLink(n.id)), el("td", {}, n.key), el("td", {}, badge(n.status)),
          el("td", {}, fmt(n.score)), el("td", {}, n.provenance.source), el("td", {}, n.name)));
      }
    }
    filter.addEventListener("input", fill);
    fill();
  }

  function table(rows) {
    return el("table", {}, ...rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))));
  }

  function diffBlock(text) {
    const pre = el("pre", { class: "diff" });
    for (const line of text.split("\n")) {
      const cls = line.startsWith("@@") ? "hunk" : line.startsWith("+") && !line.startsWith("+++") ? "add"
        : line.startsWith("-") && !line.startsWith("---") ? "del" : "";
      pre.appendChild(el("span", cls ? { class: cls } : {}, line || " "));
    }
    return pre;
  }

  function linkList(ids) {
    const span = el("span", {});
    ids.forEach((id, i) => { if (i) span.appendChild(document.createTextNode(", ")); span.appendChild(byId.has(id) ? nodeLink(id) : el("span", {}, "node " + id)); });
    if (!ids.length) span.appendChild(document.createTextNode("-"));
    return span;
  }

  function nodePage(n) {
    const page = document.getElementById("node-page");
    const p = n.provenance;
    const metrics = Object.entries(n.metrics).map(([k, v]) => [k, typeof v === "number" ? fmt(v) : String(v)]);
    const parts = [
      el("h2", {}, "Node " + n.id + " · " + n.name),
      table([["status", badge(n.status)], ["score", fmt(n.score)], ["trial", n.key + " (generation " + n.generation + ")"],
        ["parent", linkList(n.parents.slice(0, 1))], ["inspirations", linkList(n.parents.slice(1))],
        ["children", linkList(n.children)], ["idea source", p.source + (p.declared_by ? " (declared by " + p.declared_by + ")" : "")],
        ["cites nodes", linkList(p.node_ids)], ["files", n.folder + "/"]]),
    ];
    if (n.error) parts.push(el("h3", {}, "Error"), el("pre", {}, n.error));
    parts.push(el("h3", {}, "Motivation"), el("pre", {}, n.motivation || "(none)"));
    if (n.diff) parts.push(el("h3", {}, "Diff against its parent"), diffBlock(n.diff));
    if (n.program) parts.push(el("h3", {}, "Program"), el("pre", {}, n.program));
    parts.push(el("h3", {}, "Metrics"), metrics.length ? table(metrics) : el("p", { class: "muted" }, "(none)"));
    if (n.structured_metrics.length) parts.push(el("p", { class: "muted" }, "Structured metrics (in " + n.folder +
      "/result.json): " + n.structured_metrics.join(", ")));
    parts.push(el("h3", {}, "Analysis"), el("pre", {}, n.analysis || "(none)"));
    if (n.insights.length) parts.push(el("h3", {}, "Insights"), el("ul", {}, ...n.insights.map((i) => el("li", {}, i))));
    const used = [...new Set([...n.cognition_ids, ...p.cognition_ids])];
    parts.push(el("h3", {}, "Cognition items it used (" + used.length + ")"));
    parts.push(used.length ? el("ul", {}, ...used.map((id) => {
      const item = data.items[String(id)];
      const cited = p.cognition_ids.includes(id) ? " · cited as its source" : "";
      return el("li", {}, el("b", {}, "[C" + id + "] "), item ? item.content : "(not in the run's base)",
        el("div", { class: "muted" }, (item ? item.origin + " · " + item.source : "") + cited));
    })) : el("p", { class: "muted" }, "(none)"));
    if (n.notes.length) parts.push(el("h3", {}, "Notes"), el("ul", {}, ...n.notes.map((t) => el("li", { class: "note" }, t))));
    const timings = Object.entries(n.timings).map(([k, v]) => [k, Number(v).toFixed(3) + " s"]);
    if (timings.length) parts.push(el("h3", {}, "Timings"), table(timings));
    parts.push(el("p", {}, el("a", { href: "#" }, "close")));
    page.replaceChildren(...parts);
    page.hidden = false;
    page.scrollIntoView();
  }

  function route() {
    const match = /^#node-(\d+)$/.exec(location.hash);
    const page = document.getElementById("node-page");
    if (!page) return;
    if (match && byId.has(Number(match[1]))) nodePage(byId.get(Number(match[1])));
    else page.hidden = true;
  }

  function live() {
    if (!data.live) return;
    const saved = sessionStorage.getItem("asi-evolve-scroll");
    if (saved !== null) { window.scrollTo(0, Number(saved)); sessionStorage.removeItem("asi-evolve-scroll"); }
    setInterval(async () => {
      try {
        const reply = await fetch("version", { cache: "no-store" });
        const now = await reply.json();
        if (now.version !== data.version) {
          sessionStorage.setItem("asi-evolve-scroll", String(window.scrollY));
          location.reload();
        }
      } catch (err) { document.getElementById("live-state").textContent = "live view: server not reachable"; }
    }, data.live.poll_ms);
  }

  drawFigures();
  nodeTable();
  window.addEventListener("hashchange", route);
  route();
  live();
})();
