import type { TranscriptPayload } from './payloads.js';

/**
 * One transcript as a note: YAML front matter (id, time, duration, tier), then the text. Values
 * are JSON strings and numbers, which YAML reads as they are, so a title or text with a colon or
 * a quote cannot break the front matter.
 */
export function renderNote(payload: TranscriptPayload, deliveryId: string): string {
  const { recording, transcript } = payload;
  const durationS = recording.durationMs === null ? transcript.audioDurationMs / 1000 : recording.durationMs / 1000;
  const lines = [
    '---',
    `id: ${JSON.stringify(recording.id)}`,
    `time: ${JSON.stringify(new Date(recording.startedAtMs).toISOString())}`,
    `duration: ${Math.round(durationS * 10) / 10}`,
    `tier: ${transcript.tier === null ? 'null' : JSON.stringify(transcript.tier)}`,
    ...(recording.title === null ? [] : [`title: ${JSON.stringify(recording.title)}`]),
    `transcribed: ${JSON.stringify(new Date(transcript.createdAtMs).toISOString())}`,
    `delivery: ${JSON.stringify(deliveryId)}`,
    '---',
    '',
    transcript.noSpeech ? '_(no speech)_' : transcript.text.trim(),
    '',
  ];
  return lines.join('\n');
}

/** Stable per recording, so a redo overwrites its note; recording ids are [0-9A-Za-z-] (store/ids.ts). */
export function noteFileName(recordingId: string): string {
  return `${recordingId.replace(/[^0-9A-Za-z_-]/g, '_')}.md`;
}
