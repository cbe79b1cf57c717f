import { createHash } from 'node:crypto';
import type { Recording } from '../domain/recording.js';
import type { Transcript } from '../domain/transcript.js';

/**
 * What the integrations send, independent of how: the same JSON is a webhook's body, the MQTT
 * attributes and the source of a note. Built once per event, stored in the outbox as it is.
 */
export const INTEGRATION_EVENTS = ['transcript', 'recording.started', 'recording.stopped'] as const;
export type IntegrationEvent = (typeof INTEGRATION_EVENTS)[number];

export interface RecordingPart {
  readonly id: string;
  readonly startedAtMs: number;
  readonly durationMs: number | null;
  readonly title: string | null;
}

export interface TranscriptPayload {
  readonly event: 'transcript';
  readonly recording: RecordingPart;
  readonly transcript: {
    readonly text: string;
    readonly tier: string | null;
    readonly model: string;
    readonly audioDurationMs: number;
    readonly createdAtMs: number;
    readonly noSpeech: boolean;
    /** True when this replaces an earlier transcript of the same recording (catch-up, re-transcription). */
    readonly redo: boolean;
  };
}

export interface RecordingPayload {
  readonly event: 'recording.started' | 'recording.stopped';
  readonly recording: RecordingPart;
  /** For recording.stopped: completed, discarded or failed. */
  readonly outcome?: string;
}

export type IntegrationPayload = TranscriptPayload | RecordingPayload;

function recordingPart(recording: Recording): RecordingPart {
  return { id: recording.id, startedAtMs: recording.startedAtMs, durationMs: recording.durationMs, title: recording.title };
}

export function transcriptPayload(recording: Recording, transcript: Transcript, redo: boolean): TranscriptPayload {
  return {
    event: 'transcript',
    recording: recordingPart(recording),
    transcript: {
      text: transcript.text,
      tier: transcript.tier,
      model: transcript.model,
      audioDurationMs: Math.round(transcript.audioDurationMs),
      createdAtMs: transcript.createdAtMs,
      noSpeech: transcript.noSpeechReason !== null,
      redo,
    },
  };
}

export function recordingPayload(event: RecordingPayload['event'], recording: Recording, outcome?: string): RecordingPayload {
  return { event, recording: recordingPart(recording), ...(outcome === undefined ? {} : { outcome }) };
}

/**
 * The identity of an event: a transcript is one recording's text as made at one time, so a redo
 * is a new event and the same transcript seen twice is the same one.
 */
export function eventKey(payload: IntegrationPayload): string {
  return payload.event === 'transcript' ? `transcript:${payload.recording.id}:${payload.transcript.createdAtMs}` : `${payload.event}:${payload.recording.id}`;
}

/**
 * A delivery id derived from the sink and the event, not drawn at random: the event and the
 * start-up sweep that re-reads the transcripts arrive at the same id, so the outbox keeps one.
 * Shaped like a UUID, since receivers often keep it in a uuid column.
 */
export function deliveryId(sink: string, payload: IntegrationPayload): string {
  const hex = createHash('sha256').update(`${sink}\n${eventKey(payload)}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
