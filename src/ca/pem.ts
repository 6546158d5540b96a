/** PEM parsing: every block of every file, with its label and DER bytes. */

export interface PemBlock {
  label: string;
  /** Headers such as `Proc-Type: 4,ENCRYPTED` of legacy encrypted keys. */
  headers: Record<string, string>;
  der: Buffer;
  /** The block re-encoded canonically (64-column base64). */
  pem: string;
}

export class PemError extends Error {}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

/**
 * Decodes every PEM block in `text`. Throws PemError when a block is malformed (mismatched END label, bad
 * base64, empty body). Text outside blocks is ignored, as Go's pem.Decode does.
 */
export function parsePem(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const [, label, body, endLabel] = m as unknown as [string, string, string, string];
    if (label !== endLabel) throw new PemError(`PEM block BEGIN ${label} ends with END ${endLabel}`);
    const headers: Record<string, string> = {};
    const lines = body.split(/\r?\n/);
    const b64: string[] = [];
    let inHeaders = true;
    for (const line of lines) {
      if (inHeaders && /^[A-Za-z-]+:\s/.test(line)) {
        const i = line.indexOf(':');
        headers[line.slice(0, i)] = line.slice(i + 1).trim();
        continue;
      }
      inHeaders = false;
      if (line.trim() !== '') b64.push(line.trim());
    }
    const joined = b64.join('');
    if (joined === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(joined)) {
      throw new PemError(`PEM block ${label} has an invalid base64 body`);
    }
    const der = Buffer.from(joined, 'base64');
    blocks.push({ label, headers, der, pem: encodePem(label, der) });
  }
  return blocks;
}

/** Encodes DER bytes as one PEM block with 64-column lines and a trailing newline. */
export function encodePem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** True when the text holds at least one BEGIN marker; used to tell garbage from an empty PEM file. */
export function looksLikePem(text: string): boolean {
  return text.includes('-----BEGIN ');
}
