import type { TranscriptPayload } from './payloads.js';

/**
 * One transcript as a note: YAML front matter (id, time, duration, tier), then the text. Values
 * are JSON strings and numbers, which YAML reads as they are, so a title or text with a colon or
 * a quote cannot break the front matter.
 */
export function renderNote(payload: TranscriptPayload, deliveryId: string): string {
  const { recording, transcript } = payload;
  const durationMs = recording.durationMs ?? transcript.audioDurationMs;
  const lines = [
    '---',
    `id: ${JSON.stringify(recording.id)}`,
    `time: ${JSON.stringify(new Date(recording.startedAtMs).toISOString())}`,
    // Seconds to one decimal, rounded from whole milliseconds (4350 ms is 4.4: 4.35 * 10 is not 43.5 in floating point).
    `duration: ${Math.round(durationMs / 100) / 10}`,
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
