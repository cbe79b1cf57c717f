/** The transcript formats the box renders (src/transcribe/formats.ts is the server's own list). */
export const TRANSCRIPT_FORMATS_CLI = ['txt', 'json', 'srt', 'vtt'] as const;
export type TranscriptFormat = (typeof TRANSCRIPT_FORMATS_CLI)[number];
