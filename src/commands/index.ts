/** The list of commands, in the order help shows them. */
import type { CommandSpec } from './spec.js';
import { generateCommand } from './generate.js';
import { inspectCommand } from './inspect.js';
import { versionCommand } from './version.js';
import { backupCommand } from './backup.js';
import { replaceCommand } from './replace.js';
import { restartCommand } from './restart.js';
import { verifyCommand } from './verify.js';
import { statusCommand } from './status.js';
import { rotateCommand } from './rotate.js';
import { completeCommand } from './complete.js';
import { completionCommand } from './completion.js';

export const commands: CommandSpec[] = [
  generateCommand,
  inspectCommand,
  backupCommand,
  replaceCommand,
  restartCommand,
  verifyCommand,
  statusCommand,
  rotateCommand,
  versionCommand,
  completionCommand,
  completeCommand,
];
