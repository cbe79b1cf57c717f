import { describe, expect, it } from 'vitest';
import type { ApplianceSnapshot } from '../../src/appliance.js';
import { describeStatus } from '../../src/app/status-line.js';

const idle: ApplianceSnapshot = {
  phase: 'idle',
  recordingId: null,
  recordingStartedAtMs: null,
  savesInFlight: 0,
  endingSoon: false,
  lastEvent: null,
};

describe('the STATUS= line', () => {
  it('says idle, recording with its clock, saving', () => {
    expect(describeStatus(idle, 0)).toBe('idle');
    expect(describeStatus({ ...idle, phase: 'recording', recordingStartedAtMs: 1000 }, 73_500)).toBe('recording 01:12');
    expect(describeStatus({ ...idle, savesInFlight: 1 }, 0)).toBe('saving');
  });

  it('counts transcription work and names faults', () => {
    expect(describeStatus(idle, 0, { queued: 3, transcribing: true })).toBe('transcribing, 2 queued');
    expect(describeStatus(idle, 0, { queued: 2, transcribing: false })).toBe('idle, 2 queued');
    expect(describeStatus(idle, 0, null, ['transcription constrained: 82 C'])).toBe('idle, degraded: transcription constrained: 82 C');
  });
});
