// The simulator page: drives the same HTTP API a script would use (POST /api/button, GET /api/state).
const $ = (id) => document.getElementById(id);
const button = $('button');
let pressedAt = 0;
let knownRecordings = '';
const transcripts = new Map();

// The API needs the token. The page trades it once for an HttpOnly session cookie (POST
// /api/session), which the browser then sends with every call, <audio> included. A 401 (no
// session yet, or the service restarted and forgot it) shows the login form and pauses polling.
class LoggedOut extends Error {}
let loggedOut = false;

async function api(path, init = {}) {
  const response = await fetch(path, { ...init, credentials: 'same-origin' });
  if (response.status === 401) {
    showLogin();
    throw new LoggedOut(path);
  }
  return response;
}

function showLogin(message = '') {
  loggedOut = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  $('token').focus();
}

$('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const response = await fetch('/api/session', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: $('token').value.trim() }),
  });
  if (response.status !== 204) {
    showLogin(response.status === 429 ? 'Too many wrong tokens: wait a minute.' : 'That is not the token.');
    return;
  }
  $('token').value = '';
  $('login').hidden = true;
  loggedOut = false;
  void refresh();
});

async function sendButton(action) {
  const response = await api('/api/button', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ action }),
  });
  if (!response.ok) console.warn('button', action, response.status);
  setTimeout(refresh, 50);
}

// Pointer down/up map to press/release, so hold-to-talk and the long-press cancel work as on the device.
button.addEventListener('pointerdown', (event) => {
  event.preventDefault();
  pressedAt = performance.now();
  button.classList.add('held');
  void sendButton('press').catch(() => undefined);
});
for (const type of ['pointerup', 'pointercancel', 'pointerleave']) {
  button.addEventListener(type, () => {
    if (!pressedAt) return;
    pressedAt = 0;
    button.classList.remove('held');
    void sendButton('release').catch(() => undefined);
  });
}
button.addEventListener('keydown', (event) => {
  if ((event.key === ' ' || event.key === 'Enter') && !event.repeat) { event.preventDefault(); void sendButton('toggle').catch(() => undefined); }
});

function showLed(element, pattern) {
  element.dataset.mode = pattern?.mode ?? 'off';
  if (pattern?.mode === 'blink') element.style.setProperty('--period', `${pattern.onMs + pattern.offMs}ms`);
}

function formatSeconds(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

async function refreshState() {
  const state = await (await api('/api/state')).json();
  const { appliance, level } = state;
  showLed($('led-status'), appliance.leds.status);
  showLed($('led-record'), appliance.leds.record);
  $('phase').textContent = appliance.phase;
  $('elapsed').textContent = appliance.recordingStartedAtMs ? formatSeconds(Date.now() - appliance.recordingStartedAtMs) : '';
  $('faults').textContent = appliance.faults.join(' · ');
  $('last-event').textContent = appliance.lastEvent ?? '';
  const percent = Math.max(0, Math.min(100, ((level?.rmsDbfs ?? -120) + 60) * (100 / 60)));
  $('level-bar').style.width = `${percent}%`;
  const transcription = state.transcription;
  $('placeholder').hidden = !transcription?.model.placeholder;
  if (transcription) {
    const { queue, engine, degradation } = transcription;
    const parts = [`engine ${engine.state}`, `${queue.queueSize} queued`];
    if (queue.breaker !== 'closed') parts.push(`breaker ${queue.breaker}`);
    if (degradation.level > 0) parts.push(`${degradation.name}: ${degradation.reasons.join(', ')}`);
    $('transcription').textContent = `Transcription: ${parts.join(' · ')}`;
  } else {
    $('transcription').textContent = '';
  }
}

// Finished transcripts never change: fetch each once. Partial ones are fetched again.
async function transcriptText(recording) {
  if (recording.status !== 'transcribed' && recording.status !== 'transcribing') return null;
  const known = transcripts.get(recording.id);
  if (known && !known.partial) return known;
  const response = await api(`/api/recordings/${encodeURIComponent(recording.id)}/transcript?format=json`);
  if (response.status !== 200 && response.status !== 409) return null;
  const body = await response.json();
  const entry = { text: body.text ?? '', partial: response.status === 409, reason: body.noSpeechReason ?? null };
  transcripts.set(recording.id, entry);
  return entry;
}

async function refreshHealth() {
  const response = await fetch('/healthz');
  const health = await response.json();
  $('health').textContent = health.status;
  $('health').dataset.status = health.status;
}

async function refreshRecordings() {
  const page = await (await api('/api/recordings?limit=50')).json();
  const texts = await Promise.all(page.items.map((recording) => transcriptText(recording).catch(() => null)));
  const signature = JSON.stringify(page.items.map((r, i) => [r.id, r.status, r.durationMs, texts[i]?.text]));
  if (signature === knownRecordings) return;
  knownRecordings = signature;
  $('total').textContent = `(${page.total})`;
  $('empty').hidden = page.items.length > 0;
  const list = $('recordings');
  list.replaceChildren(...page.items.map((recording, index) => {
    const item = document.createElement('li');
    item.dataset.id = recording.id;
    const meta = document.createElement('div');
    meta.className = 'meta';
    const when = new Date(recording.startedAtMs).toLocaleString();
    const duration = recording.durationMs != null ? `${(recording.durationMs / 1000).toFixed(1)} s` : '';
    for (const [className, text] of [['when', when], ['duration', duration], ['status', recording.status], ['error', recording.error ?? '']]) {
      const span = document.createElement('span');
      span.className = className;
      span.textContent = text;
      meta.append(span);
    }
    item.append(meta);
    const transcript = texts[index];
    if (transcript) {
      const text = document.createElement('p');
      text.className = transcript.partial ? 'transcript partial' : 'transcript';
      text.textContent = transcript.text || (transcript.reason ? `(${transcript.reason})` : '(empty)');
      item.append(text);
    }
    if (recording.status !== 'recording') {
      const audio = document.createElement('audio');
      audio.controls = true;
      audio.preload = 'none';
      audio.src = `/api/recordings/${encodeURIComponent(recording.id)}/audio`;
      item.append(audio);
    }
    return item;
  }));
}

async function refresh() {
  if (loggedOut) return;
  try {
    await Promise.all([refreshState(), refreshRecordings()]);
  } catch (error) {
    if (error instanceof LoggedOut) return;
    $('phase').textContent = 'unreachable';
    console.warn(error);
  }
}

setInterval(refresh, 500);
setInterval(() => refreshHealth().catch(() => undefined), 3000);
void refresh();
void refreshHealth().catch(() => undefined);
