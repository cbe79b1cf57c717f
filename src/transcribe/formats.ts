/** Transcript renderings for `GET /api/recordings/:id/transcript?format=...`. */
import type { Transcript } from '../domain/transcript.js';

export const TRANSCRIPT_FORMATS = ['txt', 'json', 'srt', 'vtt'] as const;
export type TranscriptFormat = (typeof TRANSCRIPT_FORMATS)[number];

export interface Rendered {
  readonly contentType: string;
  readonly body: string;
}

/** HH:MM:SS<sep>mmm, the cue time format of SRT (',') and WebVTT ('.'). */
export function cueTime(ms: number, separator: ',' | '.'): string {
  const total = Math.max(0, Math.round(ms));
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const seconds = Math.floor((total % 60_000) / 1000);
  const millis = total % 1000;
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(hours)}:${two(minutes)}:${two(seconds)}${separator}${String(millis).padStart(3, '0')}`;
}

/** Cue text must not contain a blank line (it would end the cue) nor, in VTT, "-->". */
function cueText(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/-->/g, '->').trim();
}

export function renderTranscript(transcript: Transcript, format: TranscriptFormat): Rendered {
  switch (format) {
    case 'txt':
      return { contentType: 'text/plain; charset=utf-8', body: transcript.text === '' ? '' : `${transcript.text}\n` };
    case 'json':
      return { contentType: 'application/json; charset=utf-8', body: JSON.stringify(transcript) };
    case 'srt': {
      const cues = transcript.segments.map(
        (segment, index) => `${index + 1}\n${cueTime(segment.startMs, ',')} --> ${cueTime(segment.endMs, ',')}\n${cueText(segment.text)}\n`,
      );
      return { contentType: 'application/x-subrip; charset=utf-8', body: cues.join('\n') };
    }
    case 'vtt': {
      const cues = transcript.segments.map(
        (segment) => `${cueTime(segment.startMs, '.')} --> ${cueTime(segment.endMs, '.')}\n${cueText(segment.text)}\n`,
      );
      return { contentType: 'text/vtt; charset=utf-8', body: ['WEBVTT\n', ...cues].join('\n') };
    }
  }
}
