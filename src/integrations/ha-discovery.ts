import type { TranscriptPayload } from './payloads.js';

/**
 * Home Assistant's MQTT discovery for one Scout: the topics it publishes and listens on, and one
 * retained config message per entity under `<discoveryPrefix>/<component>/<deviceId>/<object>/config`.
 * Each config carries unique_id, the device block (so the entities group as one device) and the
 * availability topic that the connection's last will sets to `offline`.
 */
export interface DiscoveryOptions {
  readonly discoveryPrefix: string;
  /** `<topicPrefix>/<deviceId>`: every state and command topic is under it. */
  readonly baseTopic: string;
  /** Node id and the stem of every unique_id: [a-zA-Z0-9_-] only. */
  readonly deviceId: string;
  readonly deviceName: string;
  readonly swVersion: string;
}

export interface Topics {
  readonly availability: string;
  readonly command: string;
  readonly recording: string;
  readonly transcriptState: string;
  readonly transcriptAttributes: string;
  readonly transcriptEvent: string;
  readonly degradation: string;
  readonly queue: string;
  /** Home Assistant's birth and last will. */
  readonly haStatus: string;
}

export const BUTTON_PAYLOAD = 'PRESS';
/** An entity's state is at most 255 characters in Home Assistant; the rest goes in the attributes. */
export const STATE_MAX_CHARS = 255;

export function topicsOf(options: Pick<DiscoveryOptions, 'baseTopic' | 'discoveryPrefix'>): Topics {
  const base = options.baseTopic;
  return {
    availability: `${base}/availability`,
    command: `${base}/button/set`,
    recording: `${base}/recording`,
    transcriptState: `${base}/transcript/state`,
    transcriptAttributes: `${base}/transcript/attributes`,
    transcriptEvent: `${base}/transcript/event`,
    degradation: `${base}/degradation`,
    queue: `${base}/queue`,
    haStatus: `${options.discoveryPrefix}/status`,
  };
}

export interface DiscoveryMessage {
  readonly topic: string;
  readonly payload: Record<string, unknown>;
}

export function discoveryMessages(options: DiscoveryOptions): DiscoveryMessage[] {
  const topics = topicsOf(options);
  const device = {
    identifiers: [options.deviceId],
    name: options.deviceName,
    model: 'Scout push-to-talk recorder',
    manufacturer: 'Scout',
    sw_version: options.swVersion,
  };
  const common = {
    device,
    availability: [{ topic: topics.availability, payload_available: 'online', payload_not_available: 'offline' }],
    origin: { name: 'scout', sw_version: options.swVersion },
  };
  const entity = (component: string, object: string, config: Record<string, unknown>): DiscoveryMessage => ({
    topic: `${options.discoveryPrefix}/${component}/${options.deviceId}/${object}/config`,
    payload: { unique_id: `${options.deviceId}_${object}`, object_id: `${options.deviceId}_${object}`, ...config, ...common },
  });
  return [
    entity('button', 'record', { name: 'Record', command_topic: topics.command, payload_press: BUTTON_PAYLOAD, icon: 'mdi:record-rec' }),
    entity('binary_sensor', 'recording', { name: 'Recording', state_topic: topics.recording, payload_on: 'ON', payload_off: 'OFF', icon: 'mdi:microphone' }),
    entity('sensor', 'last_transcript', { name: 'Last transcript', state_topic: topics.transcriptState, json_attributes_topic: topics.transcriptAttributes, icon: 'mdi:text' }),
    entity('event', 'transcript', { name: 'Transcript', state_topic: topics.transcriptEvent, event_types: ['transcript'], icon: 'mdi:text-box-check' }),
    entity('sensor', 'degradation', { name: 'Degradation level', state_topic: topics.degradation, state_class: 'measurement', entity_category: 'diagnostic', icon: 'mdi:speedometer-slow' }),
    entity('sensor', 'queue', { name: 'Transcription queue', state_topic: topics.queue, state_class: 'measurement', unit_of_measurement: 'windows', entity_category: 'diagnostic', icon: 'mdi:tray-full' }),
  ];
}

export interface StateMessage {
  readonly topic: string;
  readonly payload: string;
  readonly retain: boolean;
}

/**
 * A finished transcript as three messages: the sensor's state (the first 255 characters), its
 * attributes (the whole text, the recording id and the delivery id) and the event entity's event.
 * The state and attributes are retained (the last transcript is there after a Home Assistant
 * restart); the event is not (it happened once).
 */
export function transcriptMessages(topics: Topics, payload: TranscriptPayload, deliveryId: string): StateMessage[] {
  const { recording, transcript } = payload;
  const attributes = {
    id: recording.id,
    delivery_id: deliveryId,
    text: transcript.text,
    started_at: new Date(recording.startedAtMs).toISOString(),
    duration_s: recording.durationMs === null ? null : recording.durationMs / 1000,
    tier: transcript.tier,
    no_speech: transcript.noSpeech,
    redo: transcript.redo,
  };
  return [
    { topic: topics.transcriptAttributes, payload: JSON.stringify(attributes), retain: true },
    { topic: topics.transcriptState, payload: truncateState(transcript.text), retain: true },
    { topic: topics.transcriptEvent, payload: JSON.stringify({ event_type: 'transcript', ...attributes }), retain: false },
  ];
}

/** At most 255 characters (code points, not UTF-16 units: an emoji is not cut in half). */
export function truncateState(text: string): string {
  const chars = Array.from(text.trim());
  return chars.length <= STATE_MAX_CHARS ? chars.join('') : chars.slice(0, STATE_MAX_CHARS).join('');
}
