import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The webhook signature: HMAC-SHA256 with the shared secret over `<timestamp>.<raw body>`, sent
 * as `X-Scout-Signature: sha256=<hex>` next to `X-Scout-Timestamp: <unix seconds>`. The timestamp
 * is inside what is signed, so a receiver that refuses old timestamps refuses a replayed request
 * (it cannot be given a fresh timestamp without the secret).
 */
export const SIGNATURE_HEADER = 'x-scout-signature';
export const TIMESTAMP_HEADER = 'x-scout-timestamp';
export const DELIVERY_HEADER = 'x-scout-delivery';
export const EVENT_HEADER = 'x-scout-event';

export function signBody(secret: string, timestampS: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestampS}.${body}`).digest('hex')}`;
}

/** For receivers (and the tests): constant-time comparison, and the age limit that stops replays. */
export function verifySignature(options: { secret: string; timestampS: number; body: string; signature: string; nowS: number; toleranceS?: number }): boolean {
  if (Math.abs(options.nowS - options.timestampS) > (options.toleranceS ?? 300)) return false;
  const expected = Buffer.from(signBody(options.secret, options.timestampS, options.body));
  const given = Buffer.from(options.signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
