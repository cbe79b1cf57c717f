import type { ApplianceSnapshot } from './appliance.js';

/** One line of human state for `systemctl status` and the page: "recording 00:12", "degraded: mic unplugged". */
export function describeStatus(snapshot: ApplianceSnapshot, nowMs: number): string {
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
      parts.push(snapshot.savesInFlight > 0 ? 'saving' : 'idle');
      break;
  }
  if (snapshot.faults.length > 0) parts.push(`degraded: ${snapshot.faults.join('; ')}`);
  return parts.join(', ');
}
