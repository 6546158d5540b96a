/** `completion SHELL`: print the shell completion script of kubectl-istio_ca. */
import type { CommandSpec } from './spec.js';
import { RefusedError } from '../errors.js';
import { completionScript, SHELLS, type Shell } from '../completion/scripts.js';

export const completionCommand: CommandSpec = {
  command: 'completion <shell>',
  describe: 'Print a shell completion script for kubectl-istio_ca: bash, zsh, fish or powershell',
  printsResult: false,
  builder: (y) =>
    y.positional('shell', { type: 'string', choices: SHELLS as unknown as string[], describe: 'The shell' }),
  examples: [
    ['source <(kubectl-istio_ca completion bash)', 'bash, this shell'],
    ['kubectl-istio_ca completion zsh > "${fpath[1]}/_kubectl-istio_ca"', 'zsh, every new shell'],
    ['kubectl-istio_ca completion fish | source', 'fish, this shell'],
    ['kubectl-istio_ca completion powershell | Out-String | Invoke-Expression', 'PowerShell, this shell'],
  ],
  run(args) {
    const shell = String(args.shell) as Shell;
    if (!SHELLS.includes(shell))
      throw new RefusedError(`no completion for shell ${JSON.stringify(shell)}`, `use one of: ${SHELLS.join(', ')}`);
    const script = completionScript(shell);
    return Promise.resolve({ kind: null, data: { shell, script }, human: () => script });
  },
};
