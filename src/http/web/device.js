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

/** A pattern as the box plays it: [{ on, ms }] for one cycle, or null for steady on/off. */
function stepsOf(pattern) {
  if (pattern?.mode === 'blink') return [{ on: true, ms: pattern.onMs }, { on: false, ms: pattern.offMs }];
  if (pattern?.mode === 'pattern') return (pattern.steps ?? []).filter((step) => step.ms > 0);
  return null;
}

function describeSteps(pattern, steps) {
  if (!steps) return pattern?.mode ?? 'off';
  return steps.map((step) => `${step.on ? 'on' : 'off'} ${step.ms} ms`).join(', ');
}

/**
 * Shows one LED's pattern with exactly the box's timings: a Web Animation of the light (the
 * `::after` layer) whose keyframes sit at each step's start and hold until the next
 * (`steps(1, end)`), one cycle per iteration. The same pattern again keeps the running
 * animation, so a blink code is not restarted mid-count.
 */
export function showLed(element, pattern) {
  const key = JSON.stringify(pattern ?? { mode: 'off' });
  if (element.dataset.pattern === key) return;
  element.dataset.pattern = key;
  const steps = stepsOf(pattern);
  element.dataset.mode = pattern?.mode ?? 'off';
  element.title = describeSteps(pattern, steps);
  for (const animation of element.getAnimations({ subtree: true })) animation.cancel();
  if (!steps || steps.length === 0 || typeof element.animate !== 'function') return;
  const cycleMs = steps.reduce((sum, step) => sum + step.ms, 0);
  const keyframes = [];
  let atMs = 0;
  for (const step of steps) {
    keyframes.push({ offset: atMs / cycleMs, opacity: step.on ? 1 : 0, easing: 'steps(1, end)' });
    atMs += step.ms;
  }
  keyframes.push({ offset: 1, opacity: steps[steps.length - 1].on ? 1 : 0 });
  const finite = pattern.mode === 'pattern' && pattern.repeat > 0;
  element.animate(keyframes, {
    duration: cycleMs,
    iterations: finite ? pattern.repeat : Infinity,
    // A finite pattern holds its last step, as the kernel's pattern trigger does.
    fill: 'forwards',
    pseudoElement: '::after',
  });
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
