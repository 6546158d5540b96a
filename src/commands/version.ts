import type { CommandSpec } from './spec.js';
import { VERSION } from '../version.js';
import type { VersionInfo } from '../output/documents.js';

export const versionCommand: CommandSpec = {
  command: 'version',
  describe: 'Print the plugin version',
  printsResult: true,
  builder: (y) => y,
  run() {
    const data: VersionInfo = {
      version: VERSION,
      node: process.version,
      platform: `${process.platform}/${process.arch}`,
    };
    return Promise.resolve({
      kind: 'VersionResult',
      data,
      human: () => `kubectl istio-ca ${VERSION} (node ${process.version}, ${data.platform})\n`,
    });
  },
};
