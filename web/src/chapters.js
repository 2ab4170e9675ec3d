// Chapters from timestamps in a video's description, as YouTube reads them: lines that begin
// with a time ("0:00 Intro", "1:02:03 - Part two"), the first at 0:00, at least three of them,
// each later than the one before. Anything else means no chapters. Pure: no DOM, so node
// tests it directly (web/tests/chapters.test.mjs).

export const MIN_CHAPTERS = 3;

// "[- ]H:MM:SS title" or "M:SS title"; a separator (- – — : |) may follow the time.
const LINE = /^\s*(?:[-*•]\s*)?[([]?((?:\d{1,2}:)?\d{1,2}:\d{2})[)\]]?\s*(?:[-–—:|]\s*)?(\S.*)$/u;

// "1:02:03" -> 3723; null when a field is out of range ("0:75", "1:60:00").
export function parseTimestamp(text) {
  const parts = text.split(':').map(Number);
  if (parts.some((n) => !Number.isInteger(n) || n < 0)) return null;
  const [s, m, hh] = parts.reverse();
  if (s > 59) return null;
  if (hh !== undefined && m > 59) return null;
  return (hh || 0) * 3600 + m * 60 + s;
}

// The description's chapters, [{ start: seconds, title }], or [] when it has none.
// `duration` (seconds, optional) drops chapters that start at or after the end.
export function parseChapters(description, duration = Infinity) {
  if (!description) return [];
  const chapters = [];
  for (const line of String(description).split(/\r\n?|\n/)) {
    const m = LINE.exec(line);
    if (!m) continue;
    const start = parseTimestamp(m[1]);
    const title = m[2].trim();
    if (start == null || !title) continue;
    chapters.push({ start, title });
  }
  if (chapters.length < MIN_CHAPTERS || chapters[0].start !== 0) return [];
  for (let i = 1; i < chapters.length; i++) if (chapters[i].start <= chapters[i - 1].start) return [];
  const kept = duration > 0 ? chapters.filter((c) => c.start < duration) : chapters;
  return kept.length >= MIN_CHAPTERS ? kept : [];
}

// The index of the chapter playing at `seconds` (-1 without chapters).
export function chapterAt(chapters, seconds) {
  let i = -1;
  while (i + 1 < chapters.length && chapters[i + 1].start <= seconds) i++;
  return chapters.length ? Math.max(0, i) : -1;
}
