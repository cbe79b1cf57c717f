import type { ApplianceSnapshot } from './appliance.js';

export interface TranscriptionSummary {
  readonly queued: number;
  readonly transcribing: boolean;
}

/** One line of human state for `systemctl status`: "recording 00:12", "transcribing, 2 queued", "degraded: 82 C". */
export function describeStatus(snapshot: ApplianceSnapshot, nowMs: number, transcription: TranscriptionSummary | null = null): string {
  const parts: string[] = [];
  switch (snapshot.phase) {
    case 'starting':
      parts.push('starting');
      break;
    case 'stopped':
      parts.push('stopped');
      break;
    case 'recording': {
      const elapsedS = snapshot.recordingStartedAtMs === null ? 0 : Math.max(0, Math.floor((nowMs - snapshot.recordingStartedAtMs) / 1000));
      parts.push(`recording ${String(Math.floor(elapsedS / 60)).padStart(2, '0')}:${String(elapsedS % 60).padStart(2, '0')}`);
      break;
    }
    case 'idle':
      if (snapshot.savesInFlight > 0) parts.push('saving');
      else if (!transcription?.transcribing) parts.push('idle');
      break;
  }
  if (transcription?.transcribing) parts.push('transcribing');
  if (transcription && transcription.queued > (transcription.transcribing ? 1 : 0)) {
    parts.push(`${transcription.queued - (transcription.transcribing ? 1 : 0)} queued`);
  }
  if (snapshot.faults.length > 0) parts.push(`degraded: ${snapshot.faults.join('; ')}`);
  return parts.join(', ');
}
