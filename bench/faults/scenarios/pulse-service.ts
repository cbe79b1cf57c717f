/**
 * The real service capturing through real arecord from a real-time ALSA device (PulseAudio's
 * ALSA plugin over a null sink, test/helpers/fake-alsa.ts), with speech played into it all the
 * time, so takes carry speech for the real engine to transcribe.
 */
import { PULSE_MIC_AUDIO_CONFIG, startPulseFakeMic, type PulseFakeMic } from '../../../test/helpers/fake-alsa.js';
import { sleep } from '../../../src/util/sleep.js';
import { startRealService, type RealService, type RunContext } from '../harness.js';

export interface PulseService {
  readonly real: RealService;
  readonly mic: PulseFakeMic;
  stopPlaying(): Promise<void>;
}

export async function startOnPulse(ctx: RunContext, name: string): Promise<PulseService> {
  const mic = await startPulseFakeMic({ sampleRateHz: 48_000, channels: 2 });
  let playing = true;
  // paplay fails while the daemon is down (device-gone): try again shortly.
  const player = (async () => {
    while (playing) await mic.play(ctx.speech48kPath).catch(() => sleep(200));
  })();
  const stopPlaying = async (): Promise<void> => {
    playing = false;
    await player;
  };
  try {
    const env = { XDG_RUNTIME_DIR: mic.env.XDG_RUNTIME_DIR, PULSE_SERVER: mic.env.PULSE_SERVER, HOME: mic.env.HOME };
    const real = await startRealService(ctx, name, { env, config: { audio: PULSE_MIC_AUDIO_CONFIG } });
    return { real, mic, stopPlaying };
  } catch (error) {
    await stopPlaying();
    await mic.stop();
    throw error;
  }
}

export async function stopOnPulse(env: PulseService | null): Promise<void> {
  if (env === null) return;
  await env.real.service.stop();
  await env.stopPlaying();
  await env.mic.stop();
}
