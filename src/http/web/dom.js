// Small DOM and formatting helpers shared by the page's modules. Every piece of text reaches the
// page as a text node: recordings, transcripts and health messages are data, never markup.

export const $ = (id) => document.getElementById(id);

/**
 * el('li', { className: 'x', dataset: { id } }, 'text', child) -> the element.
 * Props are assigned as properties (so `textContent`, `hidden`, `onclick` work); `dataset` and
 * `attrs` are copied key by key. Strings among the children become text nodes; null is skipped.
 */
export function el(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  const { dataset, attrs, ...rest } = props;
  Object.assign(element, rest);
  if (dataset) for (const [key, value] of Object.entries(dataset)) element.dataset[key] = String(value);
  if (attrs) for (const [key, value] of Object.entries(attrs)) element.setAttribute(key, String(value));
  for (const child of children) if (child !== null && child !== undefined) element.append(child);
  return element;
}

/** 65_000 -> "01:05"; an hour or more -> "1:01:05". Clocks and segment times. */
export function clock(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mmss = `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

/** A length of time as a person says it: "42 s", "12 min", "3 h 05 min". */
export function spokenDuration(ms) {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const minutes = Math.round(s / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** Decimal units, like disk vendors and `df -H`: 1 GB = 10^9 bytes. */
export function bytes(count) {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = count;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** A short local date and time for a list row. */
export function when(ms) {
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** Tells screen readers (and the test) what just happened, e.g. "Copied". */
export function announce(text) {
  const region = $('announce');
  region.textContent = '';
  // A fresh node each time, so the same message twice is read twice.
  requestAnimationFrame(() => { region.textContent = text; });
}
