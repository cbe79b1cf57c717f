// The device panel: the LED mirror, the big button, the input level, the phase and its clock,
// the faults. It mirrors the box; the box decides (the page never guesses a phase).
import { send } from './api.js';
import { $, clock } from './dom.js';

const button = $('button');
let pressed = false;
let recordingStartedAtMs = null;
let clockTimer = null;

function press(action) {
  // The next phase and LED events show the outcome; a failure is only worth a console line.
  send('POST', '/api/button', { action }).catch((error) => console.warn('button', action, error));
}

// Pointer down/up are the device's press/release edges, so a click starts or stops, and holding
// 2 s while recording cancels, exactly as on the box. The pointer is captured, so the release
// is seen wherever the finger lifts; a cancel (the browser took the gesture for a scroll) is a
// release too, or the box would think the button is still held.
button.addEventListener('pointerdown', (event) => {
  if (event.button !== 0) return;
  event.preventDefault();
  button.setPointerCapture?.(event.pointerId);
  pressed = true;
  button.classList.add('held');
  press('press');
});
for (const type of ['pointerup', 'pointercancel', 'lostpointercapture']) {
  button.addEventListener(type, () => {
    if (!pressed) return;
    pressed = false;
    button.classList.remove('held');
    press('release');
  });
}
// A long touch would open the context menu instead of holding the button.
button.addEventListener('contextmenu', (event) => event.preventDefault());
// The keyboard has no hold: Space or Enter toggles.
button.addEventListener('keydown', (event) => {
  if ((event.key === ' ' || event.key === 'Enter') && !event.repeat) {
    event.preventDefault();
    press('toggle');
  }
});

function showLed(element, pattern) {
  element.dataset.mode = pattern?.mode ?? 'off';
  if (pattern?.mode === 'blink') element.style.setProperty('--period', `${pattern.onMs + pattern.offMs}ms`);
  element.title = pattern?.mode ?? 'off';
}

export function showLeds(leds) {
  showLed($('led-status'), leds.status);
  showLed($('led-record'), leds.record);
  const recording = leds.record?.mode === 'on';
  button.setAttribute('aria-pressed', String(recording));
}

/** dBFS -> the meter: -60 dB and below is empty, 0 dB is full. */
export function showLevel(level) {
  const percent = Math.max(0, Math.min(100, ((level?.rmsDbfs ?? -120) + 60) * (100 / 60)));
  $('level-bar').style.width = `${percent.toFixed(1)}%`;
  $('level').setAttribute('aria-valuenow', String(Math.round(level?.rmsDbfs ?? -120)));
}

function tickClock() {
  $('elapsed').textContent = recordingStartedAtMs === null ? '' : clock(Date.now() - recordingStartedAtMs);
}

/** The appliance part of /api/state (phase, recordingStartedAtMs, lastEvent, faults, leds). */
export function showAppliance(appliance) {
  $('phase').textContent = appliance.phase;
  document.body.dataset.phase = appliance.phase;
  $('button-label').textContent = appliance.phase === 'recording' ? 'Stop' : 'Record';
  recordingStartedAtMs = appliance.phase === 'recording' ? appliance.recordingStartedAtMs : null;
  // A display clock only: one tick a second while recording, nothing otherwise.
  if (recordingStartedAtMs !== null && clockTimer === null) clockTimer = setInterval(tickClock, 1000);
  if (recordingStartedAtMs === null && clockTimer !== null) {
    clearInterval(clockTimer);
    clockTimer = null;
  }
  tickClock();
  $('last-event').textContent = appliance.lastEvent ?? '';
  showFaults(appliance.faults);
  if (appliance.leds) showLeds(appliance.leds);
}

/** Faults come as messages in /api/state and as {key, message, severity} in the event. */
export function showFaults(faults) {
  const list = $('faults');
  list.replaceChildren(...(faults ?? []).map((fault) => {
    const item = document.createElement('li');
    item.textContent = typeof fault === 'string' ? fault : fault.message;
    if (typeof fault !== 'string') item.dataset.severity = fault.severity;
    return item;
  }));
  list.hidden = list.childElementCount === 0;
}

export function showPlaceholder(transcription) {
  $('placeholder').hidden = !transcription?.model?.placeholder;
}
