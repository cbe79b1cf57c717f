// A wall clock that jumps, for the service under `npm run faults` only (node --import this file):
// Date and Date.now() run SCOUT_FAULT_CLOCK_FILE's number of milliseconds ahead of the real
// clock (negative: behind), re-read every 50 ms. The monotonic clocks (performance.now,
// process.hrtime, the timers) are left alone, as on a box whose NTP steps the clock. Used
// because the host clock cannot be set here and libfaketime is not installed.
import { readFileSync } from 'node:fs';

const file = process.env.SCOUT_FAULT_CLOCK_FILE;
if (file) {
  const RealDate = Date;
  let offsetMs = 0;
  const read = () => {
    try {
      const value = Number(readFileSync(file, 'utf8').trim());
      if (Number.isFinite(value)) offsetMs = value;
    } catch {
      // No file yet: no offset.
    }
  };
  read();
  setInterval(read, 50).unref();
  class JumpingDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + offsetMs);
      else super(...args);
    }
    static now() {
      return RealDate.now() + offsetMs;
    }
  }
  globalThis.Date = JumpingDate;
}
