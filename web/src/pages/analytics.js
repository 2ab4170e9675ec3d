// "/analytics/{id}" — one video's views, watch time and unique viewers per day, for its
// owner (or an admin); "/analytics" — the same summed over the signed-in person's library,
// with the videos that were watched most. A range picker (7 / 28 / 90 days, ?days= in the
// address) chooses from/to; the chart is plain SVG with a table of the same numbers.
import { h, formatDuration } from '../dom.js';
import { api, videos } from '../api.js';

const RANGES = [7, 28, 90];
const DEFAULT_RANGE = 28;
const METRICS = [
  { key: 'views', label: 'Views', format: (n) => String(n) },
  { key: 'watch_seconds', label: 'Watch time', format: (s) => formatWatch(s) },
  { key: 'unique_viewers', label: 'Unique viewers', format: (n) => String(n) },
];

const enc = encodeURIComponent;
const statsOf = {
  video: (id, from, to) => api('GET', `/v1/videos/${enc(id)}/stats?from=${from}&to=${to}`),
  library: (from, to) => api('GET', `/v1/me/stats?from=${from}&to=${to}&top=10`),
};

// "1:02:03" for long watch times, "42 s" for short ones (a chart axis reads either).
export function formatWatch(seconds) {
  const s = Math.round(seconds || 0);
  return s < 60 ? `${s} s` : formatDuration(s);
}

// The UTC days (as the API counts them) of the last `days` days, today included.
export function lastDays(days, now = new Date()) {
  const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const from = new Date(to.getTime() - (days - 1) * 86400000);
  const iso = (d) => d.toISOString().slice(0, 10);
  return { from: iso(from), to: iso(to) };
}

export function renderAnalytics(main, { params, query }) {
  const id = params[0] ? decodeURIComponent(params[0]) : null;
  let days = RANGES.includes(Number(query.get('days'))) ? Number(query.get('days')) : DEFAULT_RANGE;
  let metric = METRICS.find((m) => m.key === query.get('metric')) || METRICS[0];
  let data = null;
  let generation = 0;

  const heading = h('h1', id ? 'Video analytics' : 'Library analytics');
  const subtitle = h('p.hint.analytics-subject');
  const rangeSelect = h('select', { name: 'days', 'aria-label': 'Date range' },
    RANGES.map((d) => h('option', { value: String(d), selected: d === days }, `Last ${d} days`)));
  rangeSelect.addEventListener('change', () => {
    days = Number(rangeSelect.value);
    syncUrl();
    load();
  });
  const metricButtons = METRICS.map((m) => h('button.small', { type: 'button', dataset: { metric: m.key }, 'aria-pressed': String(m === metric), on: { click: () => {
    metric = m;
    for (const b of metricButtons) b.setAttribute('aria-pressed', String(b.dataset.metric === m.key));
    syncUrl();
    paint();
  } } }, m.label));
  const tools = h('div.analytics-tools', h('label.inline', 'Range ', rangeSelect), h('div.metric-switch', { role: 'group', 'aria-label': 'Chart shows' }, metricButtons));
  const totals = h('dl.analytics-totals');
  const chart = h('figure.analytics-chart');
  const table = h('details.analytics-table');
  const top = h('section.analytics-top');
  const status = h('p', { role: 'status' }, 'Loading…');
  const back = h('p.hint', id ? [h('a', { href: `/watch/${enc(id)}` }, 'Watch the video'), ' · ', h('a', { href: '/analytics' }, 'Your library’s analytics')] : h('a', { href: '/library' }, 'Back to your library'));
  main.append(h('div.page-head', heading), subtitle, tools, status, totals, chart, table, top, back);
  // The chart is drawn at its shown width: draw it again when that changes (a phone turned).
  let drawnWidth = 0;
  const resized = new ResizeObserver(() => {
    if (data && Math.abs(chart.clientWidth - drawnWidth) > 8) paintChart();
  });
  resized.observe(chart);
  load();

  function syncUrl() {
    const p = new URLSearchParams();
    if (days !== DEFAULT_RANGE) p.set('days', String(days));
    if (metric !== METRICS[0]) p.set('metric', metric.key);
    history.replaceState(history.state, '', location.pathname + (String(p) ? `?${p}` : ''));
  }

  async function load() {
    const mine = ++generation;
    const { from, to } = lastDays(days);
    status.hidden = false;
    status.textContent = 'Loading…';
    try {
      const [video, stats] = await Promise.all([id ? videos.get(id) : null, id ? statsOf.video(id, from, to) : statsOf.library(from, to)]);
      if (mine !== generation) return;
      if (video) {
        subtitle.replaceChildren(h('a', { href: `/watch/${enc(id)}` }, video.title || 'Untitled'));
        document.title = `Analytics: ${video.title || 'Untitled'} · Streamlet`;
      } else subtitle.textContent = 'Every video you uploaded, together.';
      data = stats;
      status.hidden = true;
      paint();
    } catch (err) {
      if (mine !== generation) return;
      data = null;
      // As the API answers: not found for a video one may not see, forbidden for one
      // one may watch but not own.
      heading.textContent = err.status === 404 ? 'Video not found' : err.status === 403 ? 'Not your video' : 'Could not load the analytics';
      status.className = 'error';
      status.setAttribute('role', 'alert');
      status.textContent = err.status === 404
        ? 'This video does not exist, or it is not visible to you.'
        : err.status === 403 ? 'Only the owner of this video (or an admin) can see its analytics.' : err.message;
      for (const el of [tools, totals, chart, table, top]) el.hidden = true;
    }
  }

  function paint() {
    if (!data) return;
    const range = `${formatDay(data.from)} – ${formatDay(data.to)}`;
    totals.replaceChildren(...METRICS.flatMap((m) => [
      h('div.total', { dataset: { metric: m.key } }, h('dt', m.label), h('dd', m.format(data[m.key]))),
    ]));
    paintChart();
    table.replaceChildren(h('summary', 'Show the numbers as a table'), dayTable(data.days, range));
    top.hidden = !data.videos;
    if (data.videos) {
      top.replaceChildren(h('h2', 'Most watched videos'), data.videos.length
        ? h('table.analytics-videos', h('thead', h('tr', h('th', { scope: 'col' }, 'Video'), METRICS.map((m) => h('th.num', { scope: 'col' }, m.label)))),
          h('tbody', data.videos.map((v) => h('tr', { dataset: { videoId: v.id } },
            h('th', { scope: 'row' }, h('a', { href: `/analytics/${enc(v.id)}` }, v.title || 'Untitled')),
            METRICS.map((m) => h('td.num', m.format(v[m.key])))))))
        : h('p.hint', 'No video of yours was watched in this range.'));
    }
  }

  function paintChart() {
    const range = `${formatDay(data.from)} – ${formatDay(data.to)}`;
    drawnWidth = chart.clientWidth;
    chart.replaceChildren(barChart(data.days, metric, `${metric.label} per day, ${range}`, drawnWidth), h('figcaption.hint', `${metric.label} per day, ${range} (UTC days)`));
  }

  return () => {
    generation++;
    resized.disconnect();
  };
}

function formatDay(day) {
  const d = new Date(`${day}T00:00:00Z`);
  return d.toLocaleDateString(undefined, { day: 'numeric', month: 'short', timeZone: 'UTC' });
}

// An axis top above `max` with 4 even steps of 1, 2 or 5 x 10^n (so labels read well).
function niceTop(max, steps = 4) {
  if (!(max > 0)) return steps;
  const raw = max / steps;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
  return step * steps;
}

const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) el.setAttribute(k, String(v));
  for (const c of children) if (c != null) el.append(c);
  return el;
}

// One bar per day; each has a <title> (the tooltip) and data-day / data-value for tests.
// Drawn at the width it is shown at (`width` px), so its text stays legible on a phone.
function barChart(days, metric, label, width) {
  const W = Math.round(Math.min(1000, Math.max(280, width || 720))), H = 260, left = 56, right = 8, topPad = 12, bottom = 34;
  const plotW = W - left - right, plotH = H - topPad - bottom;
  const values = days.map((d) => d[metric.key] || 0);
  const yTop = metric.key === 'watch_seconds' ? niceWatchTop(Math.max(...values, 0)) : niceTop(Math.max(...values, 0));
  const y = (v) => topPad + plotH - (v / yTop) * plotH;
  const slot = plotW / days.length;
  const barW = Math.max(1, slot * 0.72);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'bars', role: 'img', 'aria-label': label });
  for (let i = 0; i <= 4; i++) {
    const v = (yTop / 4) * i;
    svg.append(s('line', { class: 'grid', x1: left, x2: W - right, y1: y(v), y2: y(v) }),
      s('text', { class: 'axis y', x: left - 6, y: y(v) + 4, 'text-anchor': 'end' }, metric.format(v)));
  }
  // Day labels counted back from the last day: every day, or every 7th, 14th... as fits.
  const every = [1, 7, 14, 28, 56].find((n) => n * slot >= 64) || 91;
  days.forEach((d, i) => {
    const v = values[i];
    const x = left + i * slot + (slot - barW) / 2;
    const tip = `${formatDay(d.day)}: ${metric.format(v)} ${metric.key === 'watch_seconds' ? 'watched' : metric.label.toLowerCase()}`;
    svg.append(s('rect', { class: v ? 'bar' : 'bar zero', x, y: v ? y(v) : y(0) - 1, width: barW, height: v ? y(0) - y(v) : 1, 'data-day': d.day, 'data-value': v },
      s('title', {}, tip)));
    if ((days.length - 1 - i) % every === 0) {
      // Centred under its bar, except where that would run off an edge.
      const cx = left + i * slot + slot / 2;
      const anchor = cx + 28 > W ? 'end' : cx - 28 < 0 ? 'start' : 'middle';
      svg.append(s('text', { class: 'axis x', x: anchor === 'end' ? W - 2 : anchor === 'start' ? 2 : cx, y: H - bottom + 18, 'text-anchor': anchor }, formatDay(d.day)));
    }
  });
  svg.append(s('line', { class: 'axis-line', x1: left, x2: W - right, y1: y(0), y2: y(0) }));
  return svg;
}

// Watch time axes step in whole seconds, minutes or hours.
function niceWatchTop(max) {
  if (max <= 60) return niceTop(max);
  if (max <= 3600) return niceTop(max / 60) * 60;
  return niceTop(max / 3600) * 3600;
}

function dayTable(days, range) {
  return h('table.analytics-days',
    h('caption', `Per day, ${range}`),
    h('thead', h('tr', h('th', { scope: 'col' }, 'Day'), METRICS.map((m) => h('th.num', { scope: 'col' }, m.label)))),
    h('tbody', days.map((d) => h('tr', { dataset: { day: d.day } }, h('th', { scope: 'row' }, d.day), METRICS.map((m) => h('td.num', m.format(d[m.key])))))));
}
