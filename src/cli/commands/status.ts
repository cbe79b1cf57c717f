/**
 * `scout status`: the box's health in plain words ("healthy", or one line per check that is
 * not), and the exit code a monitoring script wants: 0 healthy, 6 degraded, 5 unhealthy.
 */
import { printJson, println, type CommandContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { healthLines, type HealthView } from '../render.js';

interface StateView {
  readonly appliance?: { readonly phase?: string; readonly recordingId?: string | null };
}

export async function status(ctx: CommandContext): Promise<number> {
  const client = await ctx.client();
  // 503 is the box's answer for "unhealthy", not a failure to answer.
  const health = (await client.json<HealthView & { checkedAt?: string }>('/healthz', { accept: [503] })).body;
  const state = (await client.json<StateView>('/api/state')).body;
  const code = health.status === 'healthy' ? EXIT.ok : health.status === 'degraded' ? EXIT.degraded : EXIT.unhealthy;
  if (ctx.options.json === true) {
    printJson(ctx, { url: client.target.url, health, phase: state.appliance?.phase ?? null, recordingId: state.appliance?.recordingId ?? null });
    return code;
  }
  for (const line of healthLines(health)) println(ctx.io.stdout, line);
  const phase = state.appliance?.phase;
  if (phase !== undefined) println(ctx.io.stderr, `${client.target.url}: ${phase}${state.appliance?.recordingId ? ` (${state.appliance.recordingId})` : ''}`);
  return code;
}
