/** `replace --from-dir DIR`: validate, plan, back up, write cacerts in one guarded update. */
import type { CommandSpec } from './spec.js';
import { withKube } from '../kube/session.js';
import { askYesNo } from './confirm.js';
import { checkWritableDir } from '../fsutil/atomic.js';
import { nonEmpty, required } from './flags.js';
import { dryRunOption, parseDryRun } from './dry-run.js';
import type { ReplaceResult } from '../replace/run.js';
import type { Style } from '../output/style.js';

function render(r: ReplaceResult, style: Style): string {
  const short = (f: string) => f.slice(0, 23) + '…';
  let out = `${style.bold('plan')} secret ${r.namespace}/cacerts in context ${r.context}: ${style.bold(r.plan.kind)}\n`;
  if (r.signingCert)
    out +=
      `  signing CA      ${r.signingCert.subject}  ${short(r.signingCert.fingerprintSha256)}  until ` +
      `${r.signingCert.notAfter.slice(0, 10)}\n`;
  out += `  current roots   ${r.plan.currentRoots.map(short).join(', ') || '-'}\n`;
  out += `  new roots       ${r.plan.newRoots.map(short).join(', ')}\n`;
  for (const f of r.plan.addedRoots) out += `  ${style.ok('+')} root added    ${f}\n`;
  for (const f of r.plan.removedRoots) out += `  ${style.bad('-')} root removed  ${f}\n`;
  for (const n of r.plan.notes) out += `  ${style.dim('note:')} ${n}\n`;
  for (const w of r.warnings) out += `  ${style.warn('‼')} ${w}\n`;
  if (r.backup) out += `backup: ${r.backup}\n`;
  const verb = {
    created: 'created',
    replaced: 'replaced',
    unchanged: 'unchanged',
    'dry-run':
      `${r.plan.kind === 'new-secret' ? 'created' : 'replaced'} ` +
      `(${r.dryRun === 'server' ? 'server dry run' : 'dry run: nothing sent'}; nothing changed)`,
  }[r.action];
  out += `secret/cacerts ${verb}\n`;
  if (r.action !== 'dry-run' && r.nextSteps.length) out += `next:\n${r.nextSteps.map((s) => `  ${s}`).join('\n')}\n`;
  return out;
}

export const replaceCommand: CommandSpec = {
  command: 'replace',
  describe: 'Replace the cacerts secret with a validated bundle, after a backup, in one guarded update',
  printsResult: true,
  namesObjects: true,
  builder: (y) =>
    dryRunOption(y, {
      client: 'validate and show the plan; send nothing',
      server: 'also send the write as a server-side dry run (admission and RBAC check it); change nothing',
    })
      .option('from-dir', {
        alias: 'f',
        type: 'string',
        demandOption: true,
        describe: 'Bundle directory (from generate, or a backup folder to roll back)',
      })
      .option('backup-dir', {
        type: 'string',
        defaultDescription: 'istio-ca-backups',
        describe: 'Where to write the backup taken first',
      })
      .option('backup', {
        type: 'boolean',
        default: true,
        describe: 'Back up first; --no-backup skips it (not recommended)',
      })
      .option('allow-root-change', {
        type: 'boolean',
        describe: 'Allow removing the current root (breaks mTLS until every workload restarts)',
      })
      .option('yes', { alias: 'y', type: 'boolean', describe: 'Do not ask for confirmation' }),
  examples: [
    ['$0 replace --from-dir ./ca --dry-run=server', 'Show the plan and check it with the API server'],
    ['$0 replace --from-dir ./ca --yes', 'Apply an intermediate-only change (hot reload, no restarts)'],
    [
      '$0 replace --from-dir ./istio-ca-backups/prod-20261128T101500Z --yes --allow-root-change',
      'Roll back from a backup',
    ],
  ],
  async run(args, ctx) {
    const dryRun = parseDryRun(args, { command: 'replace', notice: ctx.notice });
    const fromDir = required(args, 'from-dir', 'replace');
    const backupDir = nonEmpty(args, 'backup-dir', 'replace') ?? 'istio-ca-backups';
    if (dryRun === 'none' && args.backup !== false) await checkWritableDir(backupDir, '--backup-dir');
    const { runReplace } = await import('../replace/run.js');
    const result = await withKube(ctx, (client) =>
      runReplace(
        {
          fromDir,
          namespace: ctx.globals.istioNamespace,
          dryRun,
          backupDir,
          noBackup: args.backup === false,
          allowRootChange: args['allow-root-change'] === true,
          yes: args.yes === true,
        },
        {
          client,
          now: ctx.now,
          notice: ctx.notice,
          confirm: askYesNo,
        },
      ),
    );
    return {
      kind: 'ReplaceResult',
      data: result,
      human: (style) => render(result, style),
      // As kubectl apply -o name: the object, whether it was written, left unchanged or only dry-run.
      names: () => ['secret/cacerts'],
    };
  },
};
