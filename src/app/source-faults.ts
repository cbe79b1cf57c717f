import type { AudioSource } from '../hardware/types.js';
import type { FaultSink } from '../ops/faults.js';

/** The microphone's state becomes the 'audio' fault: the LEDs, STATUS= and the page say it. */
export function watchSourceFaults(source: AudioSource, faults: FaultSink): void {
  source.onEvent((event) => {
    if (event.kind !== 'state') return;
    if (event.state === 'running') faults.set('audio', null);
    else if (event.state === 'restarting' || event.state === 'failed') {
      faults.set('audio', `microphone ${event.state}${event.reason ? `: ${event.reason}` : ''}`);
    }
  });
}
