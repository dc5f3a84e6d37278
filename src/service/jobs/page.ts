/**
 * The live page on the metrics port: `GET /` serves one self-contained HTML document (no asset
 * from anywhere) that polls `GET /compactions` (the ListCompactions answer as JSON) and draws the
 * running and queued compactions with progress bars and phases, and the recent outcomes.
 */
import type { ServerResponse } from 'node:http';
import type { JobRegistry } from './registry.js';

/** How often the page polls, in ms: live enough for a progress bar, cheap for the server. */
export const PAGE_POLL_MS = 500;

/** Serves `/` and `/compactions`; false for any other path. */
export function servePage(path: string, res: ServerResponse, jobs: JobRegistry, about: () => string): boolean {
  if (path === '/') {
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      // Nothing but this document and its own JSON endpoint.
      'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
    });
    res.end(PAGE.replace(ABOUT_SLOT, escapeHtml(about())));
    return true;
  }
  if (path === '/compactions') {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(jobs.list()));
    return true;
  }
  return false;
}

/** Where the service's own facts (version, addresses, store) go in the page. */
const ABOUT_SLOT = '<!--about-->';

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>compactd: compactions</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
  h1 { font-size: 1.3em; } h2 { font-size: 1.05em; margin-top: 1.5em; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #ddd; font-variant-numeric: tabular-nums; }
  .bar { width: 220px; height: 12px; background: #eee; border-radius: 3px; overflow: hidden; }
  .fill { height: 100%; background: #3a7bd5; }
  .state-failed, .state-cancelled { color: #b00; } .state-succeeded { color: #070; }
  .muted { color: #888; }
</style>
</head>
<body>
<h1>compactd: compactions</h1>
<pre class="muted" id="about">${ABOUT_SLOT}</pre>
<p class="muted" id="status">loading…</p>
<h2>Running and queued</h2>
<table><thead><tr><th>compaction</th><th>shard</th><th>state</th><th>phase</th><th>progress</th><th>chunk</th><th>output</th><th>resumed</th><th>elapsed</th><th>left</th></tr></thead>
<tbody id="active"></tbody></table>
<h2>Recent</h2>
<table><thead><tr><th>compaction</th><th>shard</th><th>outcome</th><th>output</th><th>finished</th><th>error</th></tr></thead>
<tbody id="recent"></tbody></table>
<script>
"use strict";
const fmtBytes = (n) => { const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return n.toFixed(i ? 1 : 0) + " " + u[i]; };
const fmtSec = (s) => s < 0 ? "?" : s < 90 ? s.toFixed(1) + " s" : (s / 60).toFixed(1) + " min";
const cell = (text, cls) => { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; };
function bar(p) {
  const pct = p.inputBytesTotal > 0 ? Math.min(100, 100 * p.inputBytesDone / p.inputBytesTotal) : 0;
  const td = document.createElement("td");
  const outer = document.createElement("div"); outer.className = "bar"; outer.title = pct.toFixed(1) + "%";
  const fill = document.createElement("div"); fill.className = "fill"; fill.style.width = pct.toFixed(1) + "%";
  outer.appendChild(fill); td.appendChild(outer);
  td.appendChild(document.createTextNode(" " + pct.toFixed(0) + "%"));
  return td;
}
function render(data) {
  const active = document.getElementById("active");
  active.replaceChildren(...data.active.map((j) => {
    const tr = document.createElement("tr"); tr.dataset.id = j.compactionId; tr.dataset.phase = j.progress.phase;
    tr.append(cell(j.compactionId), cell(j.shardId), cell(j.state), cell(j.progress.phase), bar(j.progress),
      cell((j.progress.chunk + 1) + "/" + j.progress.chunks), cell(j.progress.outputParts + " parts, " + fmtBytes(j.progress.outputBytes)),
      cell(fmtBytes(j.progress.resumedBytes)), cell(fmtSec(j.progress.elapsedSeconds)), cell(fmtSec(j.progress.remainingSeconds)));
    return tr;
  }));
  const recent = document.getElementById("recent");
  recent.replaceChildren(...data.recent.map((j) => {
    const tr = document.createElement("tr"); tr.dataset.id = j.compactionId;
    tr.append(cell(j.compactionId), cell(j.shardId), cell(j.state, "state-" + j.state),
      cell(j.progress.outputParts + " parts, " + fmtBytes(j.progress.outputBytes)), cell(fmtSec(j.finishedSecondsAgo) + " ago"), cell(j.error));
    return tr;
  }));
  document.getElementById("status").textContent = data.active.length + " running or queued, updated " + new Date().toLocaleTimeString();
}
async function poll() {
  try {
    const res = await fetch("/compactions", { cache: "no-store" });
    render(await res.json());
  } catch (err) {
    document.getElementById("status").textContent = "cannot reach the server: " + err;
  }
  setTimeout(poll, ${PAGE_POLL_MS});
}
poll();
</script>
</body>
</html>
`;
