// The page's wiring: log in, read the state once, then follow /api/events. Each panel lives in
// its own module; this one only says which event goes where.
import { getJson, login, LoggedOut, logout, whenLoggedOut } from './api.js';
import { showAppliance, showFaults, showLeds, showLevel, showPlaceholder } from './device.js';
import { $, announce } from './dom.js';
import { connectEvents } from './events.js';
import { loadHealth, loadSummary, onDegradation, onHealthEvent, onQueue, showTranscription } from './health.js';
import { loadIntegrations } from './integrations.js';
import { loadList, onPartial, onRecording, setupList } from './list.js';
import { loadVocabulary, setupVocabulary } from './vocabulary.js';

let events = null;

function report(error) {
  // A 401 has already brought the login form back; anything else is worth a line.
  if (error instanceof LoggedOut) return;
  console.warn(error);
  announce(`Something went wrong: ${error.message}`);
}

function showLogin(message = '') {
  events?.stop();
  events = null;
  document.body.dataset.session = 'out';
  $('login').hidden = false;
  $('app').hidden = true;
  $('login-error').textContent = message;
  $('token').focus();
}

function showApp() {
  document.body.dataset.session = 'in';
  $('login').hidden = true;
  $('app').hidden = false;
}

async function loadState() {
  const state = await getJson('/api/state');
  showAppliance(state.appliance);
  showLevel(state.level);
  showPlaceholder(state.transcription);
  showTranscription(state.transcription);
}

/** Everything, once: after a login, a new stream, or a `reset` (the events we missed are gone). */
function loadAll() {
  const jobs = [loadState(), loadList(), loadHealth(), loadSummary(), loadVocabulary(), loadIntegrations()];
  return Promise.all(jobs.map((job) => job.catch(report)));
}

const refreshSummary = () => loadSummary().catch(report);

function start() {
  showApp();
  events = connectEvents({
    fresh: () => void loadAll(),
    reset: () => void loadAll(),
    // The phase event has no start time or last event: the state has them (one fetch per change).
    phase: () => void loadState().catch(report),
    leds: (event) => showLeds(event.leds),
    level: showLevel,
    faults: (event) => showFaults(event.faults),
    partial: onPartial,
    queue: onQueue,
    degradation: onDegradation,
    health: (event) => {
      onHealthEvent(event);
      loadHealth().catch(report);
      loadState().catch(report);
      loadIntegrations().catch(report);
    },
    recording: (event) => {
      onRecording(event).catch(report);
      loadIntegrations().catch(report);
      // Counts change on created and deleted; bytes and duration once the take is saved.
      if (event.change !== 'changed' || event.status === 'recorded' || event.status === 'failed') refreshSummary();
    },
    status: (text) => {
      $('live').textContent = text;
      $('live').dataset.state = text;
    },
    // The stream gave up (an HTTP error): a 401 means the session is gone, anything else a retry.
    closed: async () => {
      try {
        await getJson('/api/state');
        return true;
      } catch (error) {
        return !(error instanceof LoggedOut);
      }
    },
  });
}

whenLoggedOut(() => showLogin(document.body.dataset.session === 'in' ? 'The session ended (the service restarted?): log in again.' : ''));

$('login').addEventListener('submit', (event) => {
  event.preventDefault();
  const token = $('token').value.trim();
  login(token)
    .then((result) => {
      if (result !== true) {
        showLogin(result);
        return;
      }
      $('token').value = '';
      $('login-error').textContent = '';
      start();
    })
    .catch((error) => showLogin(`The appliance did not answer: ${error.message}`));
});

$('logout').addEventListener('click', () => {
  logout()
    .catch(() => undefined)
    .then(() => {
      document.body.dataset.session = 'out';
      showLogin();
    });
});

setupList({ onError: report });
setupVocabulary();

// A session from before (the cookie) is tried first; a 401 shows the login form instead.
getJson('/api/state')
  .then(start)
  .catch((error) => {
    if (!(error instanceof LoggedOut)) showLogin(`The appliance did not answer: ${error.message}`);
  });
