// Cumulus studio: a small single-page app over /api/v1 (no build step, no dependencies).
"use strict";
const API = "/api/v1";
const COLORS = ["#2b6cb0", "#c05621", "#2f855a", "#b83280", "#6b46c1", "#c53030", "#2c7a7b"];
const ACTIVE = ["Queued", "Preparing", "Starting", "Running", "Finalizing", "CancelRequested"];
let stream = null;

const esc = (v) => String(v ?? "").replace(/[&<>"']/g,
  (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})[c]);
const short = (v) => typeof v === "number" ? (Number.isInteger(v) ? v : v.toPrecision(4)) :
  esc(typeof v === "object" ? JSON.stringify(v) : v);
const badge = (s) => `<span class="status ${esc(s)}" data-status="${esc(s)}">${esc(s)}</span>`;
const runLink = (id) => `<a href="#/runs/${encodeURIComponent(id)}">${esc(id)}</a>`;

async function get(path) {
  const r = await fetch(API + path, {credentials: "same-origin"});
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function duration(run) {
  if (!run.start_time) return "";
  const end = run.end_time ? new Date(run.end_time) : new Date();
  const s = Math.max(0, (end - new Date(run.start_time)) / 1000);
  return s < 120 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`;
}

// ---------------------------------------------------------------- charts (SVG)
function lineChart(series, width = 340, height = 160) {
  const pts = series.flatMap((s) => s.points);
  if (!pts.length) return `<svg width="${width}" height="${height}"></svg>`;
  const xs = pts.map((p, i) => p.step ?? i), ys = pts.map((p) => p.value);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x) => 36 + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (width - 46);
  const sy = (y) => height - 18 - (y1 === y0 ? 0.5 : (y - y0) / (y1 - y0)) * (height - 30);
  const lines = series.map((s, k) => {
    const d = s.points.map((p, i) => `${sx(p.step ?? i).toFixed(1)},${sy(p.value).toFixed(1)}`);
    return `<polyline fill="none" stroke="${COLORS[k % COLORS.length]}" stroke-width="1.6" ${s.dash ? `stroke-dasharray="${s.dash}"` : ""}
      points="${d.join(" ")}" data-run="${esc(s.label)}" data-points="${s.points.length}"/>`;
  }).join("");
  return `<svg width="${width}" height="${height}" role="img">
    <line x1="36" y1="${height - 18}" x2="${width - 10}" y2="${height - 18}" stroke="#ccd"/>
    <line x1="36" y1="8" x2="36" y2="${height - 18}" stroke="#ccd"/>
    <text x="2" y="12">${short(y1)}</text><text x="2" y="${height - 20}">${short(y0)}</text>
    <text x="36" y="${height - 4}">${short(x0)}</text>
    <text x="${width - 40}" y="${height - 4}">${short(x1)}</text>${lines}</svg>`;
}

function parallelCoordinates(trials, metric, goal) {
  const params = [...new Set(trials.flatMap((t) => Object.keys(t.hyperparameters)))];
  const axes = [...params, metric], width = Math.max(420, axes.length * 150), height = 260;
  const value = (t, a) => a === metric ? t.best_primary_metric : t.hyperparameters[a];
  const scales = axes.map((a) => {
    const vals = trials.map((t) => value(t, a)).filter((v) => v !== undefined && v !== null);
    if (vals.every((v) => typeof v === "number")) {
      const lo = Math.min(...vals), hi = Math.max(...vals);
      return (v) => (v === null || v === undefined) ? null : (hi === lo ? 0.5 : (v - lo) / (hi - lo));
    }
    const cats = [...new Set(vals.map(String))];
    return (v) => v === undefined ? null : (cats.indexOf(String(v)) + 0.5) / cats.length;
  });
  const x = (i) => 40 + i * (width - 80) / Math.max(1, axes.length - 1);
  const y = (f) => height - 30 - f * (height - 60);
  const lines = trials.map((t) => {
    const pts = axes.map((a, i) => [x(i), scales[i](value(t, a))]).filter((p) => p[1] !== null);
    const stopped = t.early_termination || t.status === "Canceled";
    return `<polyline class="trial${stopped ? " stopped" : ""}" data-run="${esc(t.run_id)}"
      fill="none" stroke="${stopped ? "#a0aec0" : "#2b6cb0"}" stroke-dasharray="${stopped ? "4 3" : ""}"
      stroke-width="1.4" points="${pts.map((p) => `${p[0].toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ")}">
      <title>${esc(t.run_id)} ${esc(t.status)} ${short(t.best_primary_metric)}</title></polyline>`;
  }).join("");
  const labels = axes.map((a, i) => `<line x1="${x(i)}" y1="25" x2="${x(i)}" y2="${height - 30}"
    stroke="#889"/><text x="${x(i) - 20}" y="16">${esc(a)}</text>`).join("");
  return `<svg id="parallel" width="${width}" height="${height}">${labels}${lines}</svg>
    <div class="muted">${esc(goal)} ${esc(metric)}; dashed: stopped early or canceled</div>`;
}

// ---------------------------------------------------------------- views
async function runsView(q) {
  const exps = await get("/experiments");
  const params = new URLSearchParams(q);
  const limit = 50, offset = Number(params.get("offset") || 0);
  const query = new URLSearchParams({limit, offset, sort: params.get("sort") || "-created"});
  for (const k of ["experiment", "status", "tag"]) if (params.get(k)) query.set(k, params.get(k));
  const page = await get(`/runs?${query}`);
  const metricNames = [...new Set(page.runs.flatMap((r) => Object.keys(r.metrics)))].slice(0, 4);
  const opt = (v, cur) => `<option ${v === cur ? "selected" : ""}>${esc(v)}</option>`;
  const rows = page.runs.map((r) => `<tr data-run="${esc(r.id)}">
      <td><input type="checkbox" class="pick" value="${esc(r.id)}"></td>
      <td class="id">${runLink(r.id)}</td><td>${esc(r.display_name)}</td>
      <td>${esc(r.experiment)}</td><td>${esc(r.kind)}</td><td>${badge(r.status)}</td>
      <td>${duration(r)}</td>
      <td>${Object.entries(r.params || {}).slice(0, 3).map(([k, v]) => `${esc(k)}=${short(v)}`).join(" ")}</td>
      ${metricNames.map((m) => `<td>${r.metrics[m] === undefined ? "" : short(r.metrics[m])}</td>`).join("")}
    </tr>`).join("");
  view(`<h1>Runs <span class="muted">(${page.total})</span></h1>
    <div class="filters">
      <select id="f-exp"><option value="">all experiments</option>${exps.map((e) => opt(e.name, params.get("experiment"))).join("")}</select>
      <select id="f-status"><option value="">any status</option>${["Queued", "Running", "Completed", "Failed", "Canceled"].map((s) => opt(s, params.get("status"))).join("")}</select>
      <input id="f-sort" value="${esc(params.get("sort") || "-created")}" size="18" title="created, -created, status, metric:NAME, -metric:NAME">
      <button id="f-apply">Apply</button><button id="compare">Compare selected</button>
    </div>
    <table id="runs"><tr><th></th><th>run</th><th>name</th><th>experiment</th><th>kind</th><th>status</th>
      <th>duration</th><th>params</th>${metricNames.map((m) => `<th>${esc(m)}</th>`).join("")}</tr>${rows}</table>
    <div class="pager"><button id="prev" ${offset ? "" : "disabled"}>Previous</button>
      <span>${offset + 1}–${offset + page.runs.length} of ${page.total}</span>
      <button id="next" ${offset + limit < page.total ? "" : "disabled"}>Next</button></div>`);
  const go = (extra) => {
    const p = new URLSearchParams({experiment: $("#f-exp").value, status: $("#f-status").value,
                                   sort: $("#f-sort").value, ...extra});
    for (const [k, v] of [...p]) if (!v) p.delete(k);
    location.hash = `#/?${p}`;
  };
  $("#f-apply").onclick = () => go({});
  $("#prev").onclick = () => go({offset: Math.max(0, offset - limit)});
  $("#next").onclick = () => go({offset: offset + limit});
  $("#compare").onclick = () => {
    const ids = [...document.querySelectorAll(".pick:checked")].map((c) => c.value);
    if (ids.length) location.hash = `#/compare?ids=${ids.map(encodeURIComponent).join(",")}`;
  };
}

async function runView(id) {
  const run = await get(`/runs/${encodeURIComponent(id)}`);
  const def = run.definition || {};
  const [files, children, metrics] = await Promise.all([
    get(`/runs/${encodeURIComponent(id)}/files`), get(`/runs/${encodeURIComponent(id)}/children`),
    get(`/runs/${encodeURIComponent(id)}/metrics?max_points=2000`)]);
  view(`<h1>${esc(run.display_name || run.id)} ${badge(run.status)}</h1>
    <table><tr><th>run</th><td class="id">${esc(run.id)}</td><th>experiment</th><td>${esc(run.experiment)}</td>
      <th>kind</th><td>${esc(run.kind)}</td><th>target</th><td>${esc(run.compute_target)}</td></tr>
      <tr><th>created</th><td>${esc(run.created_at)}</td><th>started</th><td>${esc(run.start_time)}</td>
      <th>ended</th><td>${esc(run.end_time)}</td><th>attempt</th><td>${esc(run.attempt)}</td></tr></table>
    ${run.error ? `<p class="err">${esc(run.error.message)}</p>` : ""}
    <div id="extra"></div>
    <h2>Metrics</h2><div class="grid" id="charts"></div>
    <h2>Log</h2><pre id="log"></pre>
    ${files.some((f) => f.path.startsWith("logs/") && f.path.includes("tfevents")) ? `<p id="tensorboard" class="muted">TensorBoard event files: <code>cumulus tensorboard ${esc(id)}</code></p>` : ""}
    <h2>Files</h2><ul id="files">${files.map((f) => `<li><a href="${API}/runs/${encodeURIComponent(id)}/files/${f.path.split("/").map(encodeURIComponent).join("/")}">${esc(f.path)}</a> <span class="muted">${f.size ?? ""} B</span></li>`).join("") || "<li class=muted>none</li>"}</ul>
    ${children.length ? `<h2>Child runs</h2><table>${children.map((c) => `<tr><td class="id">${runLink(c.id)}</td><td>${esc(c.display_name)}</td><td>${badge(c.status)}</td><td>${Object.entries(c.metrics).slice(0, 4).map(([k, v]) => `${esc(k)}=${short(v)}`).join(" ")}</td></tr>`).join("")}</table>` : ""}
    <h2>Definition</h2><pre id="definition">${esc(JSON.stringify(shownDefinition(def), null, 2))}</pre>`);
  const series = {};
  for (const [name, pts] of Object.entries(metrics)) series[name] = pts;
  const draw = () => { $("#charts").innerHTML = Object.entries(series).map(([name, pts]) =>
    `<div class="card chart" data-metric="${esc(name)}" data-points="${pts.length}"><h3>${esc(name)}</h3>${lineChart([{label: id, points: pts}])}</div>`).join("") || "<span class=muted>no metrics yet</span>"; };
  draw();
  if (def.type === "sweep") sweepSection(id);
  if (def.graph) pipelineSection(id);
  follow(id, series, draw);
}

function shownDefinition(def) {
  if (def.type === "script" || !def.type) {
    return {script: def.script, arguments: def.arguments, environment: def.environment,
            snapshot: def.snapshot, source_directory: def.source_directory,
            distribution: def.distribution, inputs: def.inputs, reuse: def.reuse};
  }
  const {graph, trial_template, warm_start, ...rest} = def;   // large: shown elsewhere
  return rest;
}

function follow(id, series, draw) {
  if (stream) stream.close();
  stream = new EventSource(`${API}/runs/${encodeURIComponent(id)}/events`);
  stream.addEventListener("log", (e) => {
    const log = $("#log"); if (!log) return;
    log.textContent += JSON.parse(e.data); log.scrollTop = log.scrollHeight;
  });
  stream.addEventListener("metrics", (e) => {
    for (const p of JSON.parse(e.data)) {
      const s = series[p.name] || (series[p.name] = []);
      if (!s.some((q) => q.step === p.step && q.time === p.time)) s.push(p);
    }
    draw();
  });
  stream.addEventListener("status", (e) => {
    const b = document.querySelector("h1 .status"); const s = JSON.parse(e.data);
    if (b) { b.textContent = s; b.className = `status ${s}`; b.dataset.status = s; }
  });
  stream.addEventListener("end", () => stream.close());
}

async function sweepSection(id) {
  const s = await get(`/runs/${encodeURIComponent(id)}/sweep`);
  $("#extra").innerHTML = `<h2>Sweep: ${esc(s.primary_metric_goal)} ${esc(s.primary_metric_name)}</h2>
    ${parallelCoordinates(s.trials, s.primary_metric_name, s.primary_metric_goal)}
    <p>best run: ${s.best_run_id ? runLink(s.best_run_id) : "none yet"}</p>`;
}

async function pipelineSection(id) {
  const p = await get(`/runs/${encodeURIComponent(id)}/pipeline`);
  const depth = {};
  const level = (n) => depth[n.name] ?? (depth[n.name] = n.upstream.length ?
    1 + Math.max(...n.upstream.map((u) => level(p.steps.find((s) => s.name === u)))) : 0);
  p.steps.forEach(level);
  const cols = Math.max(...Object.values(depth)) + 1, w = 190, h = 70;
  const rowsAt = {}, pos = {};
  for (const s of p.steps) { const d = depth[s.name]; rowsAt[d] = (rowsAt[d] || 0) + 1;
    pos[s.name] = [20 + d * (w + 50), 20 + (rowsAt[d] - 1) * (h + 20)]; }
  const height = 40 + Math.max(...Object.values(rowsAt)) * (h + 20);
  const edges = p.steps.flatMap((s) => s.upstream.map((u) => `<line x1="${pos[u][0] + w}" y1="${pos[u][1] + h / 2}"
    x2="${pos[s.name][0]}" y2="${pos[s.name][1] + h / 2}" stroke="#889" marker-end="url(#arrow)"/>`)).join("");
  const boxes = p.steps.map((s) => `<g class="step" data-step="${esc(s.name)}" data-status="${esc(s.status)}">
    <rect x="${pos[s.name][0]}" y="${pos[s.name][1]}" width="${w}" height="${h}" rx="6"
      fill="${{Completed: "#d6f2df", Failed: "#f8d7da", Running: "#d7e9fb"}[s.status] || "#eef1f5"}" stroke="#99a"/>
    <text x="${pos[s.name][0] + 8}" y="${pos[s.name][1] + 18}" style="font-weight:600">${esc(s.name)}</text>
    <text x="${pos[s.name][0] + 8}" y="${pos[s.name][1] + 34}">${esc(s.status)}</text>
    <text x="${pos[s.name][0] + 8}" y="${pos[s.name][1] + 50}">${esc((s.reason || "").slice(0, 34))}</text></g>`).join("");
  $("#extra").innerHTML = `<h2>Pipeline steps</h2><svg id="graph" width="${cols * (w + 50) + 20}" height="${height}">
    <defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="7" refY="3" orient="auto">
    <path d="M0,0 L0,6 L7,3 z" fill="#889"/></marker></defs>${edges}${boxes}</svg>
    <table>${p.steps.map((s) => `<tr><td>${esc(s.name)}</td><td>${badge(s.status)}</td><td>${s.run_id ? runLink(s.run_id) : ""}</td><td>${esc(s.reason || "")}</td></tr>`).join("")}</table>`;
}

async function compareView(q) {
  const ids = (new URLSearchParams(q).get("ids") || "").split(",").filter(Boolean);
  const runs = await Promise.all(ids.map((i) => get(`/runs/${encodeURIComponent(i)}`)));
  const bulk = await get(`/compare?ids=${ids.map(encodeURIComponent).join(",")}&max_points=500`);
  const metrics = bulk.runs.map((r) => r.metrics);
  const names = [...new Set(metrics.flatMap((m) => Object.keys(m)))];
  const params = [...new Set(runs.flatMap((r) => Object.keys(r.params || {})))];
  const defs = runs.map((r) => JSON.stringify(r.definition || {}, null, 2).split("\n"));
  const diff = defs[0] ? defs[0].map((line, i) => {
    const same = defs.every((d) => d[i] === line);
    return `<tr class="${same ? "" : "diff-new"}">${defs.map((d) => `<td><code>${esc(d[i] ?? "")}</code></td>`).join("")}</tr>`;
  }).join("") : "";
  view(`<h1>Compare ${ids.length} runs</h1>
    <div class="grid" id="overlay">${names.map((n) => `<div class="card chart" data-metric="${esc(n)}"><h3>${esc(n)}</h3>
      ${lineChart(ids.map((id, k) => ({label: id, points: metrics[k][n] || []})))}</div>`).join("")}</div>
    <p>${ids.map((id, k) => `<span style="color:${COLORS[k % COLORS.length]}">■</span> ${runLink(id)}`).join(" &nbsp; ")}</p>
    <h2>Parameters</h2><table id="params"><tr><th>parameter</th>${ids.map((i) => `<th>${esc(i)}</th>`).join("")}</tr>
      ${params.map((p) => `<tr><td>${esc(p)}</td>${runs.map((r) => `<td>${short((r.params || {})[p])}</td>`).join("")}</tr>`).join("")}</table>
    <h2>Definitions</h2><table id="diff">${diff}</table>`);
}

// a quota's field as "used / limit" ("-" where unlimited or not reported)
function quotaCell(q, field) {
  const limit = q.limits[field], used = q.used ? q.used[field] : null;
  return `${used === null ? "-" : used} / ${limit === null ? "-" : limit}`;
}

async function computeView() {
  const [targets, quotas] = await Promise.all([get("/compute"), get("/quotas")]);
  view(`<h1>Compute targets</h1><table><tr><th>name</th><th>backend</th><th>state</th><th>nodes</th>
    <th>idle / running / preparing / leaving</th><th>queued runs</th><th>scale</th></tr>
    ${targets.map((t) => { const c = t.nodeStateCounts, s = t.scaleSettings; return `<tr><td>${esc(t.name)}</td>
      <td>${esc(t.backend)}</td><td>${esc(t.provisioningState)} ${esc(t.allocationState)}</td>
      <td>${t.currentNodeCount} (target ${t.targetNodeCount})</td>
      <td>${c.idleNodeCount} / ${c.runningNodeCount} / ${c.preparingNodeCount} / ${c.leavingNodeCount}</td>
      <td>${t.queued_runs}</td><td>${s.minNodeCount}..${s.maxNodeCount}, idle ${s.nodeIdleTimeBeforeScaleDown} s</td></tr>`; }).join("")}</table>
    <h2>Quotas</h2>${quotas.length ? `<table id="quotas"><tr><th>scope</th><th>runs (used / limit)</th>
      <th>nodes</th><th>GPUs</th></tr>${quotas.map((q) => `<tr data-scope="${esc(q.scope)}">
      <td>${q.scope === "*" ? "workspace" : esc(q.scope)}</td><td>${quotaCell(q, "runs")}</td>
      <td>${quotaCell(q, "nodes")}</td><td>${quotaCell(q, "gpus")}</td></tr>`).join("")}</table>` :
      `<p class="muted" id="quotas">no quotas: set one with <code>cumulus quota set</code></p>`}
    <h2>Nodes over the last hour</h2><div class="grid" id="history">${targets.map((t) =>
      `<div class="card history" data-target="${esc(t.name)}"><h3>${esc(t.name)}</h3><div class="plot"></div></div>`).join("")}</div>`);
  const since = Date.now() / 1000 - 3600;
  await Promise.all(targets.map(async (t) => {
    const samples = await get(`/compute/${encodeURIComponent(t.name)}/history?since=${since}`);
    const card = document.querySelector(`.history[data-target="${CSS.escape(t.name)}"]`);
    card.dataset.samples = samples.length;
    card.querySelector(".plot").innerHTML = samples.length ? stepChart(samples) :
      `<p class="muted">no node changes in the last hour</p>`;
  }));
}

// node counts as steps over time: each sample holds until the next one (or now)
function stepChart(samples) {
  const now = Date.now() / 1000, x0 = samples[0].time;
  const steps = (key) => samples.flatMap((s, i) => {
    const until = i + 1 < samples.length ? samples[i + 1].time : now;
    return [{step: s.time - x0, value: s[key]}, {step: until - x0, value: s[key]}];
  });
  return lineChart([{label: "nodes", points: steps("nodes")},
                    {label: "target", points: steps("target_nodes"), dash: "5 3"},
                    {label: "queued runs", points: steps("queued_runs")}], 420, 170) +
    `<div class="muted"><span style="color:${COLORS[0]}">■</span> nodes
      <span style="color:${COLORS[1]}">■</span> target <span style="color:${COLORS[2]}">■</span> queued runs
      (seconds since ${new Date(x0 * 1000).toLocaleTimeString()})</div>`;
}

async function modelsView() {
  const [models, services] = await Promise.all([get("/models"), get("/services")]);
  view(`<h1>Models</h1><table><tr><th>model</th><th>version</th><th>run</th><th>tags</th><th>created</th></tr>
    ${models.map((m) => `<tr><td>${esc(m.name)}</td><td>${m.version}</td><td>${m.run_id ? runLink(m.run_id) : ""}</td>
      <td>${esc(JSON.stringify(m.tags))}</td><td>${esc(m.created_time)}</td></tr>`).join("")}</table>
    <h2>Services</h2><table><tr><th>service</th><th>state</th><th>endpoint</th><th>models</th></tr>
    ${services.map((s) => `<tr><td>${esc(s.name)}</td><td>${esc(s.state)}</td><td>${esc(s.scoring_uri)}</td>
      <td>${esc(s.models.join(", "))}</td></tr>`).join("")}</table>`);
}

// ---------------------------------------------------------------- routing
const $ = (sel) => document.querySelector(sel);
function view(html) { $("#view").innerHTML = html; }

async function route() {
  if (stream) { stream.close(); stream = null; }
  const hash = location.hash.slice(1) || "/";
  const [path, query] = hash.split("?");
  try {
    if (path.startsWith("/runs/")) await runView(decodeURIComponent(path.slice(6)));
    else if (path === "/compare") await compareView(query || "");
    else if (path === "/compute") await computeView();
    else if (path === "/models") await modelsView();
    else await runsView(query || "");
  } catch (err) {
    view(`<p class="err">${esc(err.message)}</p>`);
  }
}

window.addEventListener("hashchange", route);
get("/workspace").then((w) => { $("#workspace").textContent = w.name; }).catch(() => {});
route();
