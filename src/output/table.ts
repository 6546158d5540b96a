/** The one table helper: borderless columns like kubectl's, via cli-table3. */
import Table from 'cli-table3';
import type { Style } from './style.js';

export function renderTable(head: string[], rows: (string | number)[][], style: Style): string {
  const table = new Table({
    head: head.map((h) => style.bold(h.toUpperCase())),
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '   ',
    },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0, compact: true },
  });
  for (const r of rows) table.push(r.map(String));
  return (
    table
      .toString()
      .split('\n')
      .map((l) => l.trimEnd())
      .join('\n') + '\n'
  );
}
