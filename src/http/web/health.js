// The health panel: /healthz with each check and its message, the storage summary, and the
// transcription state (degradation level, queue, engine) from /api/state and the live events.
import { getJson, health as fetchHealth } from './api.js';
import { $, bytes, el, spokenDuration } from './dom.js';

const transcription = { degradation: null, queueSize: 0, engine: null, breaker: 'closed' };

export async function loadHealth() {
  const report = await fetchHealth();
  const badge = $('health');
  badge.textContent = report.status;
  badge.dataset.status = report.status;
  const checks = Object.entries(report.checks ?? {});
  $('health-checks').replaceChildren(...checks.map(([name, check]) =>
    el(
      'li',
      { dataset: { check: name, status: check.status } },
      el('span', { className: 'check-name', textContent: name }),
      el('span', { className: 'badge', dataset: { status: check.status }, textContent: check.status }),
      el('span', { className: 'check-message', textContent: check.message }),
    )));
  $('health-time').textContent = report.checkedAt ? `checked ${new Date(report.checkedAt).toLocaleTimeString()}` : '';
}

/** A `health` event names statuses only: the badge moves now, the messages come with the refetch. */
export function onHealthEvent(event) {
  $('health').textContent = event.status;
  $('health').dataset.status = event.status;
}

export async function loadSummary() {
  let summary;
  try {
    summary = await getJson('/api/summary');
  } catch (error) {
    // An older server without the route: the panel says so instead of showing zeros.
    if (error?.status === 404) {
      $('summary').replaceChildren(el('dd', { textContent: 'not available on this server' }));
      return;
    }
    throw error;
  }
  const { recordings, disk } = summary;
  const rows = [
    ['count', 'Recordings', String(recordings.count)],
    ['recorded', 'Recorded', spokenDuration(recordings.durationMs)],
    ['stored', 'Audio stored', bytes(recordings.bytes)],
    ['disk', 'Disk free', disk ? `${bytes(disk.freeBytes)} of ${bytes(disk.totalBytes)}` : 'unknown'],
  ];
  $('summary').replaceChildren(...rows.flatMap(([key, term, value]) => [el('dt', { textContent: term }), el('dd', { dataset: { key }, textContent: value })]));
  const meter = $('disk-meter');
  meter.hidden = !disk;
  if (disk && disk.totalBytes > 0) {
    meter.max = disk.totalBytes;
    meter.value = disk.totalBytes - disk.freeBytes;
    meter.textContent = `${Math.round((100 * meter.value) / meter.max)}% used`;
  }
}

/** The `transcription` part of /api/state (null when transcription is off). */
export function showTranscription(state) {
  if (!state) {
    $('transcription').textContent = 'Transcription is off.';
    $('degradation').textContent = '';
    return;
  }
  transcription.degradation = state.degradation;
  transcription.queueSize = state.queue.queueSize;
  transcription.engine = state.engine.state;
  transcription.breaker = state.queue.breaker;
  showTranscriptionLine();
}

export function onDegradation(event) {
  transcription.degradation = { ...transcription.degradation, ...event };
  showTranscriptionLine();
}

export function onQueue(event) {
  transcription.queueSize = event.size;
  showTranscriptionLine();
}

function showTranscriptionLine() {
  const parts = [`engine ${transcription.engine ?? 'unknown'}`, `${transcription.queueSize} queued`];
  if (transcription.breaker !== 'closed') parts.push(`breaker ${transcription.breaker}`);
  $('transcription').textContent = parts.join(' · ');
  const degradation = transcription.degradation;
  const line = $('degradation');
  if (!degradation) {
    line.textContent = '';
    return;
  }
  line.dataset.level = String(degradation.level);
  const reasons = degradation.reasons?.length ? `: ${degradation.reasons.join(', ')}` : '';
  const deferred = degradation.defer ? ' (new work waits)' : '';
  // sinceMs: when the level was entered (absent from an older server).
  const since = degradation.level > 0 && Number.isFinite(degradation.sinceMs) ? ` since ${new Date(degradation.sinceMs).toLocaleTimeString()}` : '';
  line.textContent = `Degradation: level ${degradation.level}, ${degradation.name}${since}${reasons}${deferred}`;
}
