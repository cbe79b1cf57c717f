// The recordings list: pages of GET /api/recordings (or a search), each row's transcript, and the
// live changes (a take appears when it starts, its partial text grows window by window, the final
// transcript replaces it). Rows are updated in place and each keeps its <audio>, so an update
// never stops what someone is listening to.
import { ApiError, getJson, LoggedOut, send } from './api.js';
import { $, announce, el, spokenDuration, when } from './dom.js';
import { audioFor, segmentList } from './player.js';

const PAGE_SIZE = 20;
// The server's bound (src/domain/recording.ts); it refuses longer.
const TITLE_MAX_LENGTH = 200;
const FORMATS = ['txt', 'srt', 'vtt', 'json'];

/** id -> { recording, transcript: view | null, snippet, partial, audio, li, editing, version } */
const entries = new Map();
/** Partial windows that arrived before their row did (the row is fetched on `created`). */
const early = new Map();
let search = { q: '', from: '', to: '' };
let nextCursor = null;
let total = 0;
let listVersion = 0;

const listElement = $('recordings');
const api = (id) => `/api/recordings/${encodeURIComponent(id)}`;

function searching() {
  return search.q !== '' || search.from !== '' || search.to !== '';
}

/** A local calendar day from <input type="date"> -> epoch ms at its local midnight. */
function localDayMs(value, plusDays = 0) {
  const [y, m, d] = value.split('-').map(Number);
  return new Date(y, m - 1, d + plusDays).getTime();
}

function listUrl(before) {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (search.q) params.set('q', search.q);
  if (search.from) params.set('from', String(localDayMs(search.from)));
  // The "to" day is included: the API's `to` is exclusive, so ask up to the next midnight.
  if (search.to) params.set('to', String(localDayMs(search.to, 1)));
  if (before) params.set('before', before);
  return `/api/recordings?${params}`;
}

function newEntry(recording) {
  return { recording, transcript: null, snippet: null, partial: null, audio: null, li: null, editing: false, version: 0 };
}

/** The first page again (after a login, a reset, a new search); rows already shown keep their player. */
export async function loadList() {
  const version = ++listVersion;
  const page = await getJson(listUrl());
  if (version !== listVersion) return;
  const previous = new Map(entries);
  entries.clear();
  listElement.replaceChildren();
  total = page.total;
  nextCursor = page.nextCursor;
  for (const recording of page.items) addEntry(recording, previous.get(recording.id), false);
  showCounts();
  await Promise.all(page.items.map((recording) => refreshEntry(recording.id)));
}

async function loadMore() {
  if (!nextCursor) return;
  const version = listVersion;
  const page = await getJson(listUrl(nextCursor));
  if (version !== listVersion) return;
  nextCursor = page.nextCursor;
  const added = page.items.filter((recording) => !entries.has(recording.id));
  for (const recording of added) addEntry(recording, undefined, false);
  showCounts();
  await Promise.all(added.map((recording) => refreshEntry(recording.id)));
}

function addEntry(item, previous, sorted) {
  const { snippet, ...recording } = item;
  const entry = previous ?? newEntry(recording);
  entry.recording = recording;
  entry.snippet = snippet ?? null;
  entry.li ??= el('li', { className: 'recording' });
  entries.set(recording.id, entry);
  const pending = early.get(recording.id);
  if (pending) {
    early.delete(recording.id);
    for (const partial of pending) applyPartial(entry, partial);
  }
  render(entry);
  if (!sorted) {
    listElement.append(entry.li);
    return;
  }
  // Newest first, as the API orders them.
  const after = [...listElement.children].find((li) => Number(li.dataset.startedAtMs) < recording.startedAtMs);
  listElement.insertBefore(entry.li, after ?? null);
}

/** GET /api/recordings/:id: the row and its transcript (partial while recorded or transcribed). */
async function refreshEntry(id) {
  const entry = entries.get(id);
  if (!entry) return;
  const version = ++entry.version;
  let body;
  try {
    body = await getJson(api(id));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return removeEntry(id);
    throw error;
  }
  if (entry.version !== version || entries.get(id) !== entry) return;
  const { transcript, ...recording } = body;
  entry.recording = recording;
  entry.transcript = transcript?.state === 'done' ? transcript : null;
  if (transcript?.state === 'partial') {
    // The stitched text so far; windows that come later are appended from the `partial` events.
    const windows = entry.partial?.windows ?? new Map();
    for (const seq of windows.keys()) if (seq < transcript.windowsDone) windows.delete(seq);
    entry.partial = { text: transcript.text ?? '', windowsDone: transcript.windowsDone ?? 0, windows };
  } else if (transcript?.state === 'done') {
    entry.partial = null;
  }
  render(entry);
}

function removeEntry(id) {
  const entry = entries.get(id);
  if (!entry) return;
  entries.delete(id);
  entry.audio?.pause();
  entry.li.remove();
  total = Math.max(0, total - 1);
  showCounts();
}

function showCounts() {
  $('total').textContent = `(${total})`;
  $('empty').hidden = entries.size > 0 || searching();
  $('no-matches').hidden = entries.size > 0 || !searching();
  $('more').hidden = nextCursor === null;
}

function partialText(partial) {
  const later = [...partial.windows.entries()].sort(([a], [b]) => a - b).map(([, text]) => text);
  return [partial.text, ...later].map((text) => text.trim()).filter(Boolean).join(' ');
}

function applyPartial(entry, event) {
  entry.partial ??= { text: '', windowsDone: 0, windows: new Map() };
  // Already in the stitched text fetched with the row.
  if (event.seq < entry.partial.windowsDone) return;
  entry.partial.windows.set(event.seq, event.text);
}

/** A `partial` event: one more window of a recording is transcribed. */
export function onPartial(event) {
  const entry = entries.get(event.recordingId);
  if (!entry) {
    const pending = early.get(event.recordingId) ?? [];
    pending.push(event);
    early.set(event.recordingId, pending);
    // Only the newest few recordings can be early; forget the rest.
    if (early.size > 8) early.delete(early.keys().next().value);
    return;
  }
  applyPartial(entry, event);
  // Only the text: the rest of the row (and whatever has focus in it) stays.
  const paragraph = entry.li.querySelector('.transcript.partial');
  if (paragraph) paragraph.textContent = partialText(entry.partial) || '…';
  else render(entry);
}

/** A `recording` event: created, changed (status or title) or deleted. */
export async function onRecording(event) {
  if (event.change === 'deleted') {
    early.delete(event.id);
    return removeEntry(event.id);
  }
  if (entries.has(event.id)) return refreshEntry(event.id);
  // A new take belongs at the top of the plain list; a search shows only what matched it.
  if (event.change !== 'created' || searching()) return undefined;
  const body = await getJson(api(event.id)).catch((error) => {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  });
  if (!body || entries.has(event.id)) return undefined;
  total += 1;
  addEntry(body, undefined, true);
  showCounts();
  return refreshEntry(event.id);
}

function title(entry) {
  return entry.recording.title ?? when(entry.recording.startedAtMs);
}

function transcriptText(entry) {
  if (entry.transcript) return entry.transcript.text;
  return entry.partial ? partialText(entry.partial) : '';
}

function render(entry) {
  const { recording, li } = entry;
  li.dataset.id = recording.id;
  li.dataset.status = recording.status;
  li.dataset.startedAtMs = String(recording.startedAtMs);
  if (recording.status !== 'recording') entry.audio ??= audioFor(recording);

  const heading = entry.editing ? titleForm(entry) : el('h3', { className: 'title', textContent: title(entry) });
  const meta = el(
    'p',
    { className: 'meta' },
    el('span', { className: 'status', textContent: recording.status }),
    recording.title ? el('time', { className: 'when', dateTime: new Date(recording.startedAtMs).toISOString(), textContent: when(recording.startedAtMs) }) : null,
    recording.durationMs != null ? el('span', { className: 'duration', textContent: spokenDuration(recording.durationMs) }) : null,
    recording.error ? el('span', { className: 'error', textContent: recording.error }) : null,
  );
  // A live update re-renders the row: a Download menu the user just opened must stay open.
  const downloadsOpen = li.querySelector('details.downloads')?.open === true;
  li.replaceChildren(el('div', { className: 'head' }, heading), meta);
  if (entry.snippet) li.append(snippetLine(entry.snippet));
  li.append(...transcriptPart(entry));
  if (entry.audio) li.append(entry.audio);
  li.append(actions(entry));
  if (downloadsOpen) {
    const downloads = li.querySelector('details.downloads');
    if (downloads) downloads.open = true;
  }
}

/** Snippet parts are plain text; the matches go in <mark>, nothing is parsed as markup. */
function snippetLine(parts) {
  return el('p', { className: 'snippet' }, ...parts.map((part) => (part.match ? el('mark', { textContent: part.text }) : part.text)));
}

function transcriptPart(entry) {
  const { transcript, partial, recording } = entry;
  if (transcript) {
    if (transcript.segments.length === 0) {
      return [el('p', { className: 'transcript empty', textContent: transcript.noSpeechReason ? `(${transcript.noSpeechReason})` : '(no speech)' })];
    }
    return [el('div', { className: 'transcript' }, segmentList(transcript.segments, entry.audio))];
  }
  if (partial || recording.status === 'recording' || recording.status === 'transcribing') {
    const paragraph = el('p', { className: 'transcript partial', textContent: (partial && partialText(partial)) || '…' });
    paragraph.setAttribute('aria-live', 'polite');
    return [paragraph];
  }
  return [];
}

function actions(entry) {
  const { recording } = entry;
  const done = entry.transcript !== null;
  const box = el('div', { className: 'actions' });
  const copy = el('button', { type: 'button', className: 'copy', textContent: 'Copy text', disabled: transcriptText(entry) === '' });
  copy.addEventListener('click', () => void copyText(transcriptText(entry)));
  const downloads = el('details', { className: 'downloads' }, el('summary', { textContent: 'Download' }));
  const links = el('div', { className: 'links' });
  if (done) {
    for (const format of FORMATS) {
      links.append(el('a', { href: `${api(recording.id)}/transcript?format=${format}`, download: `${recording.id}.${format}`, textContent: format.toUpperCase(), className: `download-${format}` }));
    }
  }
  if (recording.status !== 'recording') links.append(el('a', { href: `${api(recording.id)}/audio`, download: `${recording.id}.wav`, textContent: 'WAV', className: 'download-wav' }));
  downloads.append(links);
  const rename = el('button', { type: 'button', className: 'rename', textContent: 'Rename' });
  rename.addEventListener('click', () => {
    entry.editing = true;
    render(entry);
    entry.li.querySelector('input.title-input')?.focus();
  });
  const remove = el('button', { type: 'button', className: 'delete danger', textContent: 'Delete', disabled: recording.status === 'recording' });
  remove.addEventListener('click', () => void deleteEntry(entry));
  box.append(copy, downloads, rename, remove);
  return box;
}

function titleForm(entry) {
  const id = `title-${entry.recording.id}`;
  const input = el('input', { id, className: 'title-input', type: 'text', value: entry.recording.title ?? '', maxLength: TITLE_MAX_LENGTH, placeholder: when(entry.recording.startedAtMs) });
  const form = el(
    'form',
    { className: 'title-form' },
    el('label', { htmlFor: id, className: 'visually-hidden', textContent: 'Title' }),
    input,
    el('button', { type: 'submit', textContent: 'Save' }),
    el('button', { type: 'button', className: 'cancel', textContent: 'Cancel' }),
  );
  const close = () => {
    entry.editing = false;
    render(entry);
    entry.li.querySelector('button.rename')?.focus();
  };
  form.querySelector('.cancel').addEventListener('click', close);
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') close();
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    send('PATCH', api(entry.recording.id), { title: input.value.trim() || null })
      .then((updated) => {
        entry.recording = updated;
        close();
        announce('Title saved');
      })
      .catch((error) => {
        if (!(error instanceof LoggedOut)) announce(`Not saved: ${error.message}`);
      });
  });
  return form;
}

async function deleteEntry(entry) {
  const name = title(entry);
  if (!(await confirmDialog(`Delete “${name}”? Its audio and transcript are removed for good.`))) return;
  try {
    await send('DELETE', api(entry.recording.id));
    removeEntry(entry.recording.id);
    announce(`Deleted ${name}`);
  } catch (error) {
    if (!(error instanceof LoggedOut)) announce(`Not deleted: ${error.message}`);
  }
}

/** The shared <dialog>: resolves true only for the confirm button (Escape and Cancel are no). */
function confirmDialog(message) {
  const dialog = $('confirm');
  $('confirm-text').textContent = message;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm'), { once: true });
    dialog.showModal();
    $('confirm-cancel').focus();
  });
}

// navigator.clipboard exists only in a secure context: on the LAN the page is plain http, so the
// old selection-and-copy way is the fallback.
async function copyText(text) {
  try {
    if (!navigator.clipboard) throw new Error('no clipboard API');
    await navigator.clipboard.writeText(text);
  } catch {
    const area = el('textarea', { value: text, readOnly: true, className: 'offscreen' });
    document.body.append(area);
    area.select();
    const copied = document.execCommand('copy');
    area.remove();
    if (!copied) {
      announce('Could not copy: select the text and copy it by hand');
      return;
    }
  }
  announce('Copied');
}

export function setupList({ onError }) {
  const form = $('search');
  const run = () => {
    search = { q: $('search-q').value.trim(), from: $('search-from').value, to: $('search-to').value };
    $('search-clear').hidden = !searching();
    loadList().catch(onError);
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    run();
  });
  // Typing searches after a short pause; one request per pause, not per key.
  let typing = null;
  $('search-q').addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(run, 350);
  });
  for (const id of ['search-from', 'search-to']) $(id).addEventListener('change', run);
  $('search-clear').addEventListener('click', () => {
    form.reset();
    run();
    $('search-q').focus();
  });
  $('more').addEventListener('click', () => loadMore().catch(onError));
}
