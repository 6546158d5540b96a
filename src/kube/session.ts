/** Runs a command body with a connected client; maps API errors to typed errors; closes the connection. */
import type { CommandContext } from '../context.js';
import type { KubeClient } from './client.js';
import { explainKubeError } from './errors.js';
import type { RateLimit } from './http.js';

export async function withKube<T>(
  ctx: CommandContext,
  fn: (client: KubeClient) => Promise<T>,
  rate?: RateLimit,
): Promise<T> {
  const { connect } = await import('./connect.js');
  const client = await connect(ctx, rate);
  try {
    return await fn(client);
  } catch (e) {
    throw explainKubeError(e, client.context);
  } finally {
    client.close();
  }
}
