/** The list of commands, in the order help shows them. */
import type { CommandSpec } from './spec.js';
import { generateCommand } from './generate.js';
import { inspectCommand } from './inspect.js';
import { versionCommand } from './version.js';

export const commands: CommandSpec[] = [generateCommand, inspectCommand, versionCommand];
