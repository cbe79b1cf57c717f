// The integrations panel: each sink (MQTT, webhooks, the notes folder) with its connection,
// queue and last error, and its newest deliveries, from GET /api/integrations. Hidden when none
// is configured. Refreshed with the page's other panels and on every recording event (a
// transcript or a take is what makes a delivery).
import { getJson } from './api.js';
import { $, el, when } from './dom.js';

const LIMIT = 10;

function sinkLine(sink) {
  const parts = [];
  if (sink.connected !== null) parts.push(sink.connected ? 'connected' : 'not connected');
  parts.push(`${sink.queueLength} waiting`, `${sink.delivered} delivered`, `${sink.failed} failed attempts`);
  if (sink.lastError) parts.push(`last error: ${sink.lastError}`);
  return parts.join(' · ');
}

function deliveryItem(delivery) {
  const state = delivery.deliveredAtMs !== null ? 'delivered' : delivery.attempts > 0 ? 'retrying' : 'waiting';
  const detail = delivery.deliveredAtMs !== null
    ? `delivered ${when(delivery.deliveredAtMs)}`
    : delivery.lastError ? `${delivery.lastError}; next try ${when(delivery.nextAttemptAtMs)}` : 'waiting';
  return el(
    'li',
    { dataset: { delivery: delivery.id, state } },
    el('span', { className: 'badge', dataset: { status: state === 'delivered' ? 'healthy' : 'degraded' }, textContent: state }),
    el('span', { className: 'check-name', textContent: delivery.kind }),
    el('span', { className: 'check-message', textContent: `${delivery.recordingId ?? ''} · ${delivery.attempts} attempt${delivery.attempts === 1 ? '' : 's'} · ${detail}`, title: `delivery id ${delivery.id}` }),
  );
}

export async function loadIntegrations() {
  let body;
  try {
    body = await getJson(`/api/integrations?limit=${LIMIT}`);
  } catch (error) {
    // An older server without the route: no panel.
    if (error?.status === 404) {
      $('integrations').hidden = true;
      return;
    }
    throw error;
  }
  const sinks = body.sinks ?? [];
  $('integrations').hidden = sinks.length === 0;
  $('integration-sinks').replaceChildren(...sinks.map((sink) =>
    el(
      'li',
      { dataset: { sink: sink.sink, connected: String(sink.connected) } },
      el('h3', { textContent: sink.sink }),
      el('p', { className: 'muted sink-status', textContent: sinkLine(sink) }),
      el('ul', { className: 'checks deliveries' }, ...sink.deliveries.map(deliveryItem)),
    )));
}
