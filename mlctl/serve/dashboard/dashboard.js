// The live dashboard of mlctl serve. It polls dashboard/data every 2 s, keeps the
// samples of the last 15 minutes, and computes rates and windowed quantiles from the
// differences of the cumulative counters and histogram buckets, as PromQL's rate()
// and histogram_quantile() do. The server keeps no history; every number comes from
// the registry /metrics renders (all workers). No library, no network but this server.
(function () {
  'use strict';

  const REFRESH_MS = 2000;
  const KEEP_S = 900;           // samples kept (the longest window)
  const RATE_S = 60;            // the window of the rate tiles
  const CHART_RATE_S = 10;      // each point of the traffic chart
  const CHART_LATENCY_S = 30;   // each point of the latency chart
  const SCORING = ['/predict', '/invocations', '/v2/models/{name}/infer'];
  const KEY = 'mlctl.dashboard.key';
  const DATA_URL = 'dashboard/data';
  const SVG = 'http://www.w3.org/2000/svg';

  let samples = [];             // {t: server time (s), d: the data document}
  let windowS = 300;
  let timer = null;
  let polling = false;          // a request or a timer is under way

  // ------------------------------------------------------------------ the arithmetic

  // PromQL's histogram_quantile: le = finite upper bounds, counts = cumulative counts
  // (one more than le: the last is +Inf). null without observations.
  function histogramQuantile(q, le, counts) {
    if (!counts.length || !(counts[counts.length - 1] > 0) || q < 0 || q > 1) return null;
    const total = counts[counts.length - 1];
    const rank = q * total;
    let i = 0;
    while (i < counts.length - 1 && counts[i] < rank) i++;
    if (i === le.length) return le.length ? le[le.length - 1] : null;
    if (i === 0 && le[0] <= 0) return le[0];
    const start = i > 0 ? le[i - 1] : 0;
    const below = i > 0 ? counts[i - 1] : 0;
    const inside = counts[i] - below;
    if (inside <= 0) return le[i];
    return start + (le[i] - start) * (rank - below) / inside;
  }

  // newer - older, bucket by bucket (a histogram is {le, counts, count, sum}).
  function histDelta(newer, older) {
    if (!older || older.counts.length !== newer.counts.length) return newer;
    return {
      le: newer.le,
      counts: newer.counts.map((c, i) => c - older.counts[i]),
      count: newer.count - older.count,
      sum: newer.sum - older.sum,
    };
  }

  function histSum(hists) {
    const found = hists.filter(Boolean);
    if (!found.length) return null;
    return found.reduce((a, h) => ({
      le: h.le,
      counts: h.counts.map((c, i) => c + (a.counts[i] || 0)),
      count: a.count + h.count,
      sum: a.sum + h.sum,
    }), {le: found[0].le, counts: [], count: 0, sum: 0});
  }

  function scoringLatency(d) {
    return histSum(SCORING.map((r) => d.metrics.latency[r]));
  }

  function sumRows(rows, keep) {
    return rows.filter(keep).reduce((a, r) => a + r.value, 0);
  }

  const isScoring = (r) => SCORING.includes(r.route);
  const scoringRequests = (d) => sumRows(d.metrics.requests, isScoring);
  const serverErrors = (d) => sumRows(d.metrics.requests, (r) => isScoring(r) && r.code[0] === '5');
  const clientErrors = (d) => sumRows(d.metrics.requests, (r) => isScoring(r) && r.code[0] === '4');
  const answeredRows = (d) => sumRows(d.metrics.predictions, () => true);

  // The sample at least `seconds` before the newest one (or the oldest kept).
  function before(seconds) {
    const last = samples[samples.length - 1];
    let found = samples[0];
    for (const s of samples) {
      if (s.t <= last.t - seconds) found = s; else break;
    }
    return found;
  }

  function rate(fn, older, newer) {
    const dt = newer.t - older.t;
    return dt > 0 ? (fn(newer.d) - fn(older.d)) / dt : null;
  }

  // ------------------------------------------------------------------ formatting

  const $ = (id) => document.getElementById(id);
  const dash = '–';

  function ms(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return dash;
    const v = seconds * 1000;
    return (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)) + ' ms';
  }
  function pct(x, digits) {
    if (x === null || x === undefined || !isFinite(x)) return dash;
    return (100 * x).toFixed(digits === undefined ? 1 : digits) + ' %';
  }
  function num(x, digits) {
    if (x === null || x === undefined || !isFinite(x)) return dash;
    return digits === undefined ? Math.round(x).toLocaleString('en-US') : x.toFixed(digits);
  }
  function set(id, text, value) {
    const el = $(id);
    el.textContent = text;
    if (value !== undefined) el.dataset.value = String(value);
  }
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  // A table's body: one row per array of cells, or one line saying there is none.
  function rows(tableId, data, empty) {
    const table = $(tableId), body = table.tBodies[0];
    if (!data.length) {
      const td = el('td', empty || 'none yet', 'muted');
      td.colSpan = table.tHead.rows[0].cells.length;
      const tr = el('tr');
      tr.append(td);
      body.replaceChildren(tr);
      return;
    }
    body.replaceChildren(...data.map((cells) => {
      const tr = el('tr');
      for (const c of cells) tr.append(el('td', c === null ? dash : c));
      return tr;
    }));
  }

  // ------------------------------------------------------------------ charts (SVG)

  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }

  // series: [{points: [[t, v]], cls}], hline: a value drawn dashed (the SLO).
  function lineChart(host, series, opts) {
    const w = Math.max(200, host.clientWidth), h = host.clientHeight || 150;
    const pad = {l: 52, r: 8, t: 8, b: 18};
    const root = svg('svg', {width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: 'img'});
    root.append(svg('title')); root.firstChild.textContent = opts.title;
    const last = samples.length ? samples[samples.length - 1].t : 0;
    const t0 = last - windowS, t1 = last;
    const all = series.flatMap((s) => s.points.filter((p) => p[1] !== null && p[0] >= t0));
    let top = Math.max(opts.min || 0, ...all.map((p) => p[1]));
    // The SLO line is drawn when it is near the data; far above, the legend says so.
    const hline = opts.hline && opts.hline < top * 3 ? opts.hline : null;
    if (hline) top = Math.max(top, hline);
    top = top > 0 ? top * 1.1 : 1;
    if (opts.onHline) opts.onHline(Boolean(hline));
    const x = (t) => pad.l + (w - pad.l - pad.r) * (t - t0) / (t1 - t0 || 1);
    const y = (v) => h - pad.b - (h - pad.t - pad.b) * Math.min(v, top) / top;
    for (const f of [0, 0.5, 1]) {
      root.append(svg('line', {x1: pad.l, x2: w - pad.r, y1: y(top * f), y2: y(top * f), class: 'grid'}));
      const label = svg('text', {x: pad.l - 6, y: y(top * f) + 4, 'text-anchor': 'end', class: 'axis'});
      label.textContent = opts.format(top * f);
      root.append(label);
    }
    const ago = svg('text', {x: pad.l, y: h - 4, class: 'axis'});
    ago.textContent = `-${Math.round(windowS / 60)} min`;
    const now = svg('text', {x: w - pad.r, y: h - 4, class: 'axis', 'text-anchor': 'end'});
    now.textContent = 'now';
    root.append(ago, now);
    if (hline) {
      root.append(svg('line', {x1: pad.l, x2: w - pad.r, y1: y(hline), y2: y(hline), class: 'slo'}));
    }
    if (!all.length) {
      const none = svg('text', {x: (pad.l + w - pad.r) / 2, y: h / 2, 'text-anchor': 'middle', class: 'axis'});
      none.textContent = opts.empty || 'no data yet';
      root.append(none);
    }
    for (const s of series) {
      const pts = s.points.filter((p) => p[1] !== null && p[0] >= t0);
      if (!pts.length) continue;
      root.append(svg('polyline', {
        points: pts.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' '),
        class: 'series ' + s.cls,
      }));
    }
    host.replaceChildren(root);
  }

  // bars: [{label, value, ref}] as shares (0..1); ref is drawn as a tick.
  function barChart(host, bars, title) {
    const w = Math.max(200, host.clientWidth), h = host.clientHeight || 120;
    const pad = {l: 8, r: 8, t: 8, b: 18};
    const root = svg('svg', {width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: 'img'});
    root.append(svg('title')); root.firstChild.textContent = title;
    const top = Math.max(0.01, ...bars.map((b) => Math.max(b.value || 0, b.ref || 0))) * 1.1;
    const bw = (w - pad.l - pad.r) / Math.max(1, bars.length);
    const y = (v) => h - pad.b - (h - pad.t - pad.b) * v / top;
    bars.forEach((b, i) => {
      const x0 = pad.l + i * bw;
      if (b.value) {
        root.append(svg('rect', {x: x0 + 2, y: y(b.value), width: Math.max(1, bw - 4),
          height: h - pad.b - y(b.value), class: 'bar'}));
      }
      if (b.ref) {
        root.append(svg('line', {x1: x0 + 1, x2: x0 + bw - 1, y1: y(b.ref), y2: y(b.ref), class: 'ref'}));
      }
      if (bars.length <= 8 || i % 2 === 0) {
        const t = svg('text', {x: x0 + bw / 2, y: h - 4, 'text-anchor': 'middle', class: 'axis'});
        t.textContent = b.label;
        root.append(t);
      }
    });
    host.replaceChildren(root);
  }

  // The share of each bucket (not cumulative) of a histogram, with readable labels.
  function bucketShares(hist) {
    if (!hist || !(hist.count > 0)) return hist ? hist.counts.map(() => 0) : [];
    return hist.counts.map((c, i) => (c - (i ? hist.counts[i - 1] : 0)) / hist.count);
  }

  // ------------------------------------------------------------------ rendering

  // What a panel needs: the newest sample, the one a minute before (rates), the one
  // a window before (quantiles, shares), and whether there is a window at all.
  function view() {
    const newest = samples[samples.length - 1];
    return {d: newest.d, newest, rOld: before(RATE_S), wOld: before(windowS), many: samples.length > 1};
  }

  function render() {
    const v = view();
    renderHeader(v.d);
    renderTiles(v);
    renderLatency(v);
    renderTraffic(v);
    const windowRows = renderSplit(v);
    renderDistribution(v, windowRows);
    renderBatches(v);
    rows('routes-table', v.d.metrics.requests.map((r) => [r.route, r.code, num(r.value)]));
    renderMonitor(v.d.monitor);
  }

  function renderHeader(d) {
    $('model-name').textContent = d.model.name;
    const champ = d.model.champion, chall = d.model.challenger;
    const parts = [];
    if (champ) parts.push(`champion v${champ.version}` + (d.model.alias ? ` (@${d.model.alias})` : ' (fixed version)'));
    else parts.push(d.model.loading ? 'loading the model…' : 'no model loaded');
    if (chall) parts.push(`challenger v${chall.version}`);
    parts.push(d.traffic.shadow ? 'shadow on' : 'shadow off');
    $('versions').textContent = parts.join(' · ');
    $('versions').dataset.champion = champ ? champ.version : '';
    $('versions').dataset.challenger = chall ? chall.version : '';
    const updated = new Date(d.time * 1000).toLocaleTimeString('en-GB');
    const workers = d.server.workers > 1 ? `${d.server.workers} workers (this answer: pid ${d.server.pid})` : '1 worker';
    $('status').textContent = `updated ${updated} · ${workers}` +
      (d.model.load_error ? ` · last load error: ${d.model.load_error}` : '');
    $('status').className = 'status' + (d.model.load_error ? ' bad' : '');
    $('footer-server').textContent = `mlctl ${d.server.mlctl_version}.`;
    for (const e of document.querySelectorAll('.window-label')) e.textContent = `${Math.round(windowS / 60)} min`;
  }

  function renderTiles({d, newest, rOld, wOld, many}) {
    const rps = many ? rate(scoringRequests, rOld, newest) : null;
    set('rate', rps === null ? dash : num(rps, rps < 10 ? 2 : 1), rps);
    const dReq = scoringRequests(d) - scoringRequests(rOld.d);
    const errRate = dReq > 0 ? (serverErrors(d) - serverErrors(rOld.d)) / dReq : null;
    const cliRate = dReq > 0 ? (clientErrors(d) - clientErrors(rOld.d)) / dReq : null;
    set('error-rate', many && dReq === 0 ? 'no traffic' : pct(errRate, 2), errRate);
    $('error-rate').className = 'big' + (errRate !== null && errRate > d.slo.max_error_rate ? ' bad' : '');
    set('client-error-rate', pct(cliRate, 1));
    set('slo-errors', pct(d.slo.max_error_rate, 1));
    if (d.cache.backend === 'none') {
      set('cache-rate', 'off');
      set('cache-sub', 'deploy.serve.cache.backend: none');
    } else {
      const dRows = answeredRows(d) - answeredRows(wOld.d);
      const hit = dRows > 0 ? (d.metrics.cache_hits - wOld.d.metrics.cache_hits) / dRows : null;
      set('cache-rate', pct(hit), hit);
      set('cache-sub', `${d.cache.backend} · ${num(d.metrics.cache_hits)} hits since start`);
    }
    set('log-state', d.log.writable ? 'writable' : 'NOT writable', d.log.writable);
    $('log-state').className = 'big ' + (d.log.writable ? 'good' : 'bad');
    $('log-state').title = !d.log.writable && d.log.last_error ? d.log.last_error : '';
    set('log-queue', num(d.log.queue), d.log.queue);
    set('log-failed', num(d.log.failed_rows), d.log.failed_rows);
    $('log-failed').className = d.log.failed_rows > 0 ? 'bad' : '';
  }

  const NO_HIST = {le: [], counts: [0], count: 0, sum: 0};

  function renderLatency({d, wOld, many}) {
    const lat = histDelta(scoringLatency(d) || NO_HIST, many ? scoringLatency(wOld.d) : null);
    const q = (p) => histogramQuantile(p, lat.le, lat.counts);
    const p95 = q(0.95);
    set('p95', ms(p95), p95);
    $('p95').className = 'big' + (p95 !== null && d.slo.p95_ms && p95 * 1000 > d.slo.p95_ms ? ' bad' : '');
    set('slo-p95', d.slo.p95_ms ? `${d.slo.p95_ms} ms` : 'none');
    set('p50-ms', ms(q(0.5)), q(0.5));
    set('p95-ms', ms(p95), p95);
    set('p99-ms', ms(q(0.99)), q(0.99));
    $('p99-ms').className = q(0.99) !== null && d.slo.p99_ms && q(0.99) * 1000 > d.slo.p99_ms ? 'bad' : '';
    $('p95-ms').className = $('p95').className.includes('bad') ? 'bad' : '';
    set('mean-ms', ms(lat.count > 0 ? lat.sum / lat.count : null));
    const series = {p50: [], p95: [], p99: []};
    for (let i = 1; i < samples.length; i++) {
      const s = samples[i];
      const h = histDelta(scoringLatency(s.d) || NO_HIST, scoringLatency(pointBefore(i, CHART_LATENCY_S).d));
      for (const [name, p] of [['p50', 0.5], ['p95', 0.95], ['p99', 0.99]]) {
        series[name].push([s.t, histogramQuantile(p, h.le, h.counts)]);
      }
    }
    const slo = d.slo.p95_ms ? d.slo.p95_ms / 1000 : null;
    lineChart($('latency-chart'), Object.entries(series).map(([cls, points]) => ({points, cls})), {
      title: 'Latency quantiles', format: ms, hline: slo, min: 0.001,
      empty: 'no scoring requests in the window',
      onHline: (shown) => {
        $('slo-legend').textContent = slo === null ? 'no SLO'
          : `SLO p95 ${d.slo.p95_ms} ms` + (shown ? '' : ' (above the chart)');
      },
    });
  }

  function renderTraffic({d}) {
    set('requests-total', num(scoringRequests(d)), scoringRequests(d));
    set('errors-total', num(serverErrors(d)), serverErrors(d));
    set('client-errors-total', num(clientErrors(d)), clientErrors(d));
    const dropped = sumRows(d.metrics.rows_dropped, () => true);
    set('dropped-total', num(dropped), dropped);
    const requests = [], errors = [];
    for (let i = 1; i < samples.length; i++) {
      const s = samples[i], old = pointBefore(i, CHART_RATE_S);
      requests.push([s.t, rate(scoringRequests, old, s)]);
      errors.push([s.t, rate(serverErrors, old, s)]);
    }
    lineChart($('rate-chart'), [{points: requests, cls: 'ok'}, {points: errors, cls: 'bad'}],
      {title: 'Requests per second', format: (x) => num(x, x < 10 ? 1 : 0), min: 1});
  }

  // The rows each variant and version answered; returns the rows of the window.
  function renderSplit({d, wOld}) {
    const t = d.traffic;
    $('split-config').textContent = d.model.challenger || t.challenger_percent > 0 || t.shadow
      ? `configured: challenger answers ${t.challenger_percent} % of requests` +
        (t.sticky_key ? ` (sticky by ${t.sticky_key})` : '') +
        (t.shadow ? '; shadow: the challenger also scores every request silently (logged, not counted here)' : '')
      : 'configured: the champion answers every request (no challenger)';
    const byVariant = {};
    const key = (r) => `${r.variant}\u0000${r.version}`;
    for (const r of d.metrics.predictions) {
      byVariant[key(r)] = byVariant[key(r)] || {variant: r.variant, version: r.version, total: 0, old: 0};
      byVariant[key(r)].total += r.value;
    }
    for (const r of wOld.d.metrics.predictions) if (byVariant[key(r)]) byVariant[key(r)].old += r.value;
    const variants = Object.values(byVariant).sort((a, b) => key(a).localeCompare(key(b)));
    const windowRows = variants.reduce((a, x) => a + x.total - x.old, 0);
    rows('split-table', variants.map((x) => [x.variant, `v${x.version}`, num(x.total),
      windowRows > 0 ? pct((x.total - x.old) / windowRows) : dash]), 'no predictions yet');
    for (const name of ['champion', 'challenger']) {
      const total = variants.filter((x) => x.variant === name).reduce((a, x) => a + x.total, 0);
      $('split-table').dataset[name] = String(total);
    }
    return windowRows;
  }

  function renderDistribution({d, wOld, many}, windowRows) {
    const byLabel = {};
    for (const r of d.metrics.predictions) {
      byLabel[r.label] = byLabel[r.label] || [0, 0];
      byLabel[r.label][0] += r.value;
    }
    for (const r of wOld.d.metrics.predictions) if (byLabel[r.label]) byLabel[r.label][1] += r.value;
    const allRows = answeredRows(d);
    rows('labels-table', Object.keys(byLabel).sort().map((k) => [k, num(byLabel[k][0]),
      allRows > 0 ? pct(byLabel[k][0] / allRows) : dash,
      windowRows > 0 ? pct((byLabel[k][0] - byLabel[k][1]) / windowRows) : dash]), 'no predictions yet');
    const all = d.metrics.scores;
    const win = bucketShares(histDelta(all, many ? wOld.d.metrics.scores : null));
    const since = bucketShares(all);
    const lower = [0].concat(all.le);
    barChart($('score-chart'), all.le.map((le, i) => ({
      label: i === 0 ? `≤${le}` : `${lower[i]}–${le}`.replace(/0\./g, '.'),
      value: win[i], ref: since[i],
    })), 'Scores: share of predictions per bucket');
  }

  function renderBatches({d, newest, rOld, wOld, many}) {
    const b = histDelta(d.metrics.batch_rows, many ? wOld.d.metrics.batch_rows : null);
    set('batch-mean', b.count > 0 ? num(b.sum / b.count, 1) : dash);
    set('batch-p50', num(histogramQuantile(0.5, b.le, b.counts), 1));
    set('batch-p95', num(histogramQuantile(0.95, b.le, b.counts), 1));
    set('batch-rate', num(many ? rate((x) => x.metrics.batch_rows.count, rOld, newest) : null, 1));
    const shares = bucketShares(b);
    barChart($('batch-chart'), b.le.map((le, i) => ({label: `≤${le}`, value: shares[i]})),
      'Batch sizes: share of model calls per bucket');
  }

  // The latest sample at least `seconds` before sample i (or the oldest kept).
  function pointBefore(i, seconds) {
    let j = i - 1;
    while (j > 0 && samples[j].t > samples[i].t - seconds) j--;
    return samples[j];
  }

  function renderMonitor(m) {
    const host = $('monitor');
    const out = [];
    if (m.state !== 'ok') {
      $('monitor-when').textContent = '';
      out.push(el('p', m.message, 'muted'));
      host.replaceChildren(...out);
      host.dataset.status = m.state;
      return;
    }
    host.dataset.status = m.status;
    const age = m.age_seconds === null ? '' : ` ${ago(m.age_seconds)}`;
    $('monitor-when').textContent = `(generated ${m.generated_at || 'at an unknown time'}; file written${age})`;
    const head = el('p');
    head.append(el('span', m.status.replace(/_/g, ' '), 'badge ' + m.status));
    const about = m.about_served_version
      ? ` about the served version v${m.model_version}`
      : ` about v${m.model_version}, not the served version`;
    head.append(el('span', about + (m.rows !== null ? ` · ${num(m.rows)} rows` : '') +
      (m.window ? ` · window ${m.window.start_utc} → ${m.window.end_utc}` : '')));
    out.push(head);
    if (m.reasons.length) {
      const ul = el('ul', null, 'reasons');
      for (const r of m.reasons) ul.append(el('li', r));
      out.push(ul);
    }
    const cols = el('div', null, 'cols');
    const drift = el('div');
    const dr = m.drift;
    drift.append(el('h3', `Data drift: ${num(dr.n_drifted)} of ${num(dr.n_tested)} columns drifted`));
    if (dr.drifted.length) {
      drift.append(table(['column', 'test', 'score', 'threshold'], dr.drifted.map((c) =>
        [c.column, c.test, num(c.score, 3), num(c.threshold, 3)]), 'drifted-columns'));
      if (dr.more_drifted) drift.append(el('p', `and ${dr.more_drifted} more`, 'muted'));
    }
    if (m.prediction_drift.length) {
      drift.append(el('p', 'Prediction drift: ' + m.prediction_drift.map((c) => c.column).join(', '), 'bad'));
    }
    cols.append(drift);
    const perf = el('div');
    if (m.performance) {
      perf.append(el('h3', `Production metrics (${num(m.performance.n_evaluated)} labelled rows)`));
      if (m.performance.metrics.length) {
        perf.append(table(['metric', 'production', 'trained', ''], m.performance.metrics.map((x) =>
          [x.name, num(x.production, 3), num(x.trained, 3), x.dropped ? 'dropped' : '']), 'production-metrics'));
      } else if (m.performance.message) {
        perf.append(el('p', m.performance.message, 'muted'));
      }
    } else {
      perf.append(el('h3', 'Production metrics'));
      perf.append(el('p', 'no labels in this result', 'muted'));
    }
    if (m.volume && m.volume.message) perf.append(el('p', m.volume.message, 'muted'));
    cols.append(perf);
    out.push(cols);
    host.replaceChildren(...out);
  }

  function table(head, data, id) {
    const t = el('table', null, 'list');
    if (id) t.id = id;
    const tr = el('tr');
    for (const h of head) tr.append(el('th', h));
    t.append(el('thead')); t.tHead.append(tr);
    const body = el('tbody');
    for (const r of data) {
      const row = el('tr');
      for (const c of r) row.append(el('td', c));
      body.append(row);
    }
    t.append(body);
    return t;
  }

  function ago(seconds) {
    if (seconds < 90) return `${Math.round(seconds)} s ago`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 172800) return `${Math.round(seconds / 3600)} h ago`;
    return `${Math.round(seconds / 86400)} days ago`;
  }

  // ------------------------------------------------------------------ polling and the key

  function showKeyForm(refused) {
    $('panels').hidden = true;
    $('key-form').hidden = false;
    $('key-error').hidden = !refused;
    $('status').textContent = 'this server needs its API key';
    $('key-input').focus();
  }

  async function tick() {
    polling = true;
    timer = null;
    const key = sessionStorage.getItem(KEY);
    const headers = {Accept: 'application/json'};
    if (key) headers.Authorization = 'Bearer ' + key;
    let res;
    try {
      res = await fetch(DATA_URL, {headers, cache: 'no-store', credentials: 'omit'});
    } catch (err) {
      $('status').textContent = 'cannot reach the server; retrying';
      $('status').className = 'status bad';
      timer = setTimeout(tick, REFRESH_MS);
      return;
    }
    if (res.status === 401) {
      if (key) sessionStorage.removeItem(KEY);
      polling = false;
      showKeyForm(Boolean(key));
      return;
    }
    if (!res.ok) {
      $('status').textContent = `the server answered ${res.status}; retrying`;
      $('status').className = 'status bad';
      timer = setTimeout(tick, REFRESH_MS);
      return;
    }
    let d;
    try {
      d = await res.json();
    } catch (err) {
      $('status').textContent = 'the server sent a document this page cannot read; retrying';
      timer = setTimeout(tick, REFRESH_MS);
      return;
    }
    const last = samples[samples.length - 1];
    if (last && (scoringRequests(d) < scoringRequests(last.d) || d.time <= last.t)) {
      samples = [];  // the server restarted (counters reset) or the clock went back
    }
    if (samples.length) samples[samples.length - 1].d.monitor = null;  // only the newest is shown
    samples.push({t: d.time, d});
    while (samples.length > 2 && samples[0].t < d.time - KEEP_S) samples.shift();
    $('key-form').hidden = true;
    $('panels').hidden = false;
    try {
      render();
    } catch (err) {
      console.error('dashboard: cannot render', err);
      $('status').textContent = `cannot show the data: ${err}`;
    }
    document.body.dataset.samples = String(samples.length);
    timer = setTimeout(tick, REFRESH_MS);
  }

  function start() {
    $('key-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const value = $('key-input').value.trim();
      $('key-input').value = '';
      if (!value) return;
      sessionStorage.setItem(KEY, value);
      $('status').textContent = 'connecting…';
      if (!polling) tick();
    });
    $('window').addEventListener('change', (ev) => {
      windowS = Number(ev.target.value);
      if (samples.length) render();
    });
    tick();
  }

  window.mlctlDashboard = {histogramQuantile, histDelta};
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
