/**
 * The import rules ARCHITECTURE.md states, enforced by `npm run lint`. Layers, lowest first; a
 * module may import its own layer and the ones below, never one above:
 *
 *   0  src/domain/, src/util/, src/log.ts     concepts and helpers, no devices
 *   1  src/hardware/, src/sim/                the only code that touches the Pi (and the simulator's clip)
 *   2  src/ops/                               health, metrics, faults, watchdog, resources
 *   3  src/audio/                             DSP, ring, recorder, WAV
 *   4  src/store/                             SQLite
 *   5  src/transcribe/                        engine, queue, degradation
 *   5½ src/integrations/                     MQTT, webhooks, notes folder, their outbox dispatcher
 *   6  src/http/                              the API and the page
 *   7  src/app/, appliance.ts, service.ts, main.ts, config.ts   composition and the state machine
 *
 * Only the composition layer reads the configuration.
 */
const layers = [
  { name: 'domain-util', path: '^src/(domain|util)/|^src/log\\.ts$' },
  { name: 'hardware', path: '^src/(hardware|sim)/' },
  { name: 'ops', path: '^src/ops/' },
  { name: 'audio', path: '^src/audio/' },
  { name: 'store', path: '^src/store/' },
  { name: 'transcribe', path: '^src/transcribe/' },
  { name: 'integrations', path: '^src/integrations/' },
  { name: 'http', path: '^src/http/' },
  { name: 'app', path: '^src/app/|^src/(appliance|service|main|config)\\.ts$' },
];

const layerRules = layers.slice(0, -1).map((layer, index) => ({
  name: `${layer.name}-imports-only-below`,
  comment: `${layer.name} must not import a higher layer (${layers
    .slice(index + 1)
    .map((higher) => higher.name)
    .join(', ')})`,
  severity: 'error',
  from: { path: layer.path },
  to: { path: layers.slice(index + 1).map((higher) => `(${higher.path})`).join('|') },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'A cycle means two modules own one concept between them.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...layerRules,
    {
      name: 'config-only-in-composition',
      comment: 'Parts get plain options from the composer; only it reads Config.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/app/|^src/(main|service|config)\\.ts$' },
      to: { path: '^src/config\\.ts$' },
    },
    {
      name: 'cli-is-a-client',
      comment: 'The CLI talks to the box over HTTP; it shares concepts and helpers, never the server itself.',
      severity: 'error',
      from: { path: '^src/cli/' },
      to: { path: '^src/', pathNot: '^src/(cli|domain|util)/' },
    },
    {
      name: 'nothing-imports-the-cli',
      comment: 'The service must not depend on its client.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'src-never-imports-tests',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
