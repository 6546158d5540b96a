/** Opens a KubeClient for the global --kubeconfig/--context flags. */
import type { CommandContext } from '../context.js';
import { HttpKubeClient, type RateLimit } from './http.js';
import { resolveConnection } from './kubeconfig.js';

export async function connect(ctx: CommandContext, rate?: RateLimit): Promise<HttpKubeClient> {
  const conn = await resolveConnection(ctx.globals.kubeconfig, ctx.globals.context, ctx.env);
  return new HttpKubeClient(conn, rate);
}
