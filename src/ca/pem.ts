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

const PEM_START = '\n-----BEGIN ';
const PEM_END = '\n-----END ';
const PEM_END_OF_LINE = '-----';

function getLine(data: string): { line: string; rest: string; consumed: number } {
  let i = data.indexOf('\n');
  let j: number;
  if (i < 0) {
    i = data.length;
    j = i;
  } else {
    j = i + 1;
    if (i > 0 && data[i - 1] === '\r') i--;
  }
  return { line: data.slice(0, i).replace(/[ \t]+$/, ''), rest: data.slice(j), consumed: j };
}

/** Go's base64.StdEncoding.Decode after pem removed spaces and tabs: line breaks are skipped, padding required. */
function goBase64(data: string): Buffer | null {
  const b64 = data.replace(/[\r\n]/g, '');
  if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*(=|==)?$/.test(b64)) return null;
  return Buffer.from(b64, 'base64');
}

/**
 * One step of Go's encoding/pem Decode, ported line for line: the next block Go finds in `data`, and the rest.
 * Unlike a lenient regex, it loses what Go loses: a block whose END line has more text after it (two blocks joined
 * on one line), an indented BEGIN line, a body that is not strict base64.
 */
export function goPemDecode(data: string): { block: PemBlock | null; rest: string } {
  let rest = data;
  let endTrailerIndex = 0;
  for (;;) {
    if (endTrailerIndex < 0 || endTrailerIndex > rest.length) return { block: null, rest: data };
    rest = rest.slice(endTrailerIndex);
    let endIndex = rest.indexOf(PEM_END);
    if (endIndex < 0) return { block: null, rest: data };
    endTrailerIndex = endIndex + PEM_END.length;
    const beginIndex = rest.slice(0, endIndex).lastIndexOf(PEM_START.slice(1));
    if (beginIndex < 0 || (beginIndex > 0 && rest[beginIndex - 1] !== '\n')) continue;
    rest = rest.slice(beginIndex + PEM_START.length - 1);
    endIndex -= beginIndex + PEM_START.length - 1;
    endTrailerIndex -= beginIndex + PEM_START.length - 1;

    const typeLine = getLine(rest);
    rest = typeLine.rest;
    endIndex -= typeLine.consumed;
    endTrailerIndex -= typeLine.consumed;
    if (!typeLine.line.endsWith(PEM_END_OF_LINE)) continue;
    const label = typeLine.line.slice(0, typeLine.line.length - PEM_END_OF_LINE.length);

    const headers: Record<string, string> = {};
    let truncated = false;
    for (;;) {
      if (rest.length === 0) {
        truncated = true;
        break;
      }
      const l = getLine(rest);
      const colon = l.line.indexOf(':');
      if (colon < 0) break;
      headers[l.line.slice(0, colon).trim()] = l.line.slice(colon + 1).trim();
      rest = l.rest;
      endIndex -= l.consumed;
      endTrailerIndex -= l.consumed;
    }
    if (truncated) return { block: null, rest: data };
    if (Object.keys(headers).length > 0 && endIndex < 0) continue;

    let endTrailer = rest.slice(endTrailerIndex);
    const endTrailerLen = label.length + PEM_END_OF_LINE.length;
    if (endTrailer.length < endTrailerLen) continue;
    const restOfEndLine = endTrailer.slice(endTrailerLen);
    endTrailer = endTrailer.slice(0, endTrailerLen);
    if (!endTrailer.startsWith(label) || !endTrailer.endsWith(PEM_END_OF_LINE)) continue;
    if (getLine(restOfEndLine).line.length !== 0) continue;

    let der: Buffer = Buffer.alloc(0);
    if (endIndex > 0) {
      const decoded = goBase64(rest.slice(0, endIndex).replace(/[ \t]/g, ''));
      if (!decoded) continue;
      der = decoded;
    }
    const after = getLine(rest.slice(endIndex + PEM_END.length - 1));
    return { block: { label, headers, der, pem: encodePem(label, der) }, rest: after.rest };
  }
}

/** Every block Go's pem.Decode finds in `text`, in order, decoding until it finds no more (as istiod's loops do). */
export function goPemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  let rest = text;
  for (;;) {
    const { block, rest: next } = goPemDecode(rest);
    if (!block) return blocks;
    blocks.push(block);
    rest = next;
  }
}

/** How many BEGIN lines the text has, wherever they are: more than goPemBlocks found means Go loses some. */
export function countBeginMarkers(text: string): number {
  return text.split('-----BEGIN ').length - 1;
}
