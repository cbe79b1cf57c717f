/**
 * A parent process for the parent-death test: supervises one long-running child, prints
 * `child <pid>` on stdout once it is spawned, then waits to be killed.
 * Usage: node --import tsx test/helpers/supervised-parent.ts [--no-pdeathsig]
 */
import { silentLogger } from '../../src/log.js';
import { ChildSupervisor } from '../../src/util/child-supervisor.js';

const dieWithParent = !process.argv.includes('--no-pdeathsig');
const supervisor = new ChildSupervisor({
  name: 'sleeper',
  logger: silentLogger(),
  prepare: () => ({ command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'] }),
  restart: { initialMs: 1000, maxMs: 1000 },
  graceMs: 500,
  dieWithParent,
  onEvent: (event) => {
    if (event.kind === 'spawned') process.stdout.write(`child ${event.pid}\n`);
  },
});
await supervisor.start();
setInterval(() => undefined, 1000);
