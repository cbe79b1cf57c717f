import { describe, expect, it } from 'vitest';
import { cueTime, renderTranscript } from '../../src/transcribe/formats.js';
import type { Transcript } from '../../src/domain/transcript.js';

const transcript: Transcript = {
  recordingId: '01jabcdefghjkmnpqrstvwxyz0',
  text: 'Hello there. General --> Kenobi.',
  segments: [
    { startMs: 0, endMs: 1520, text: 'Hello there.' },
    { startMs: 3_723_004, endMs: 3_725_999, text: 'General --> Kenobi.\n' },
  ],
  model: 'ggml-tiny.en.bin',
  threads: 2,
  audioCtx: 314,
  audioDurationMs: 3_726_000,
  processingMs: 900,
  realTimeFactor: 900 / 3_726_000,
  tier: 'normal',
  degraded: false,
  noSpeechReason: null,
  windows: 2,
  vocabulary: ['Kenobi', 'Scout'],
  createdAtMs: 1_700_000_000_000,
};

describe('transcript formats', () => {
  it('formats cue times with hours, minutes, seconds and milliseconds', () => {
    expect(cueTime(0, ',')).toBe('00:00:00,000');
    expect(cueTime(3_723_004, '.')).toBe('01:02:03.004');
    expect(cueTime(-5, ',')).toBe('00:00:00,000');
  });

  it('txt is the text and a newline; empty for an empty transcript', () => {
    expect(renderTranscript(transcript, 'txt')).toEqual({ contentType: 'text/plain; charset=utf-8', body: 'Hello there. General --> Kenobi.\n' });
    expect(renderTranscript({ ...transcript, text: '', segments: [] }, 'txt').body).toBe('');
  });

  it('json round-trips the stored transcript', () => {
    const rendered = renderTranscript(transcript, 'json');
    expect(rendered.contentType).toMatch(/^application\/json/);
    expect(JSON.parse(rendered.body)).toEqual(transcript);
  });

  it('json says which vocabulary the transcript was made with, and null when that is unknown', () => {
    expect(JSON.parse(renderTranscript(transcript, 'json').body)).toMatchObject({ vocabulary: ['Kenobi', 'Scout'] });
    expect(JSON.parse(renderTranscript({ ...transcript, vocabulary: null }, 'json').body)).toMatchObject({ vocabulary: null });
  });

  it('srt numbers the cues and uses comma milliseconds', () => {
    expect(renderTranscript(transcript, 'srt').body).toBe(
      '1\n00:00:00,000 --> 00:00:01,520\nHello there.\n\n2\n01:02:03,004 --> 01:02:05,999\nGeneral -> Kenobi.\n',
    );
  });

  it('vtt starts with the WEBVTT header, uses dot milliseconds, and keeps "-->" out of cue text', () => {
    expect(renderTranscript(transcript, 'vtt').body).toBe(
      'WEBVTT\n\n00:00:00.000 --> 00:00:01.520\nHello there.\n\n01:02:03.004 --> 01:02:05.999\nGeneral -> Kenobi.\n',
    );
  });
});
