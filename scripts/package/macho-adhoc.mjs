// Ad-hoc code signature for a thin 64-bit Mach-O executable, written without Apple's codesign: what `codesign
// --sign -` makes (a SHA-256 CodeDirectory of every 4 KiB page, empty requirements, empty CMS blob, flag adhoc).
// postject's LIEF drops the Node.js binary's Apple signature when it injects the blob; Apple silicon runs no binary
// without a signature, and an ad-hoc one is enough for a binary that is not quarantined (krew's downloads are not).
// No identity, no notarization: Gatekeeper still rejects a quarantined (browser-downloaded) copy.
import { createHash } from 'node:crypto';

const MH_MAGIC_64 = 0xfeedfacf;
const LC_SEGMENT_64 = 0x19;
const LC_CODE_SIGNATURE = 0x1d;
const MH_EXECUTE = 2;
const CPU_TYPE_ARM64 = 0x0100000c;
const CSMAGIC_EMBEDDED_SIGNATURE = 0xfade0cc0;
const CSMAGIC_CODEDIRECTORY = 0xfade0c02;
const CSMAGIC_REQUIREMENTS = 0xfade0c01;
const CSMAGIC_BLOBWRAPPER = 0xfade0b01;
const CS_ADHOC = 0x2;
const CS_EXECSEG_MAIN_BINARY = 0x1;
const PAGE = 4096;

const align = (n, a) => Math.ceil(n / a) * a;

/** Finds what signing needs in the load commands of `buf`. */
export function parseMachO(buf) {
  if (buf.readUInt32LE(0) !== MH_MAGIC_64) throw new Error('not a thin 64-bit little-endian Mach-O file');
  const cputype = buf.readUInt32LE(4);
  const filetype = buf.readUInt32LE(12);
  const ncmds = buf.readUInt32LE(16);
  const sizeofcmds = buf.readUInt32LE(20);
  let p = 32;
  let text;
  let linkedit;
  let codeSignature;
  let firstSection = Infinity;
  for (let i = 0; i < ncmds; i++) {
    const cmd = buf.readUInt32LE(p);
    const size = buf.readUInt32LE(p + 4);
    if (cmd === LC_SEGMENT_64) {
      const name = buf.toString('latin1', p + 8, p + 24).replace(/\0.*$/s, '');
      const seg = {
        at: p,
        name,
        fileoff: Number(buf.readBigUInt64LE(p + 40)),
        filesize: Number(buf.readBigUInt64LE(p + 48)),
      };
      if (name === '__TEXT') text = seg;
      if (name === '__LINKEDIT') linkedit = seg;
      const nsects = buf.readUInt32LE(p + 64);
      for (let s = 0; s < nsects; s++) {
        const off = buf.readUInt32LE(p + 72 + s * 80 + 48);
        if (off > 0) firstSection = Math.min(firstSection, off);
      }
    } else if (cmd === LC_CODE_SIGNATURE) {
      codeSignature = { at: p, dataoff: buf.readUInt32LE(p + 8), datasize: buf.readUInt32LE(p + 12) };
    }
    p += size;
  }
  if (!text || !linkedit) throw new Error('no __TEXT or __LINKEDIT segment');
  return {
    cputype,
    filetype,
    ncmds,
    sizeofcmds,
    commandsEnd: 32 + sizeofcmds,
    firstSection,
    text,
    linkedit,
    codeSignature,
  };
}

/** Returns a copy of the Mach-O executable `input` carrying an ad-hoc signature with `identifier`. */
export function adhocSign(input, identifier) {
  const m = parseMachO(input);
  if (
    m.linkedit.fileoff + m.linkedit.filesize !==
    (m.codeSignature ? m.linkedit.fileoff + m.linkedit.filesize : input.length)
  ) {
    throw new Error('__LINKEDIT is not at the end of the file');
  }
  // The signature goes at the end of __LINKEDIT, 16-byte aligned: where the old one was, or after everything.
  const codeLimit = m.codeSignature ? m.codeSignature.dataoff : align(input.length, 16);
  const head = Buffer.alloc(codeLimit);
  input.copy(head, 0, 0, Math.min(codeLimit, input.length));

  let lcAt = m.codeSignature?.at;
  if (lcAt === undefined) {
    if (m.firstSection - m.commandsEnd < 16) throw new Error('no room for a LC_CODE_SIGNATURE load command');
    lcAt = m.commandsEnd;
    head.writeUInt32LE(m.ncmds + 1, 16);
    head.writeUInt32LE(m.sizeofcmds + 16, 20);
    head.writeUInt32LE(LC_CODE_SIGNATURE, lcAt);
    head.writeUInt32LE(16, lcAt + 4);
  }

  const ident = Buffer.from(`${identifier}\0`, 'utf8');
  const nCodeSlots = Math.ceil(codeLimit / PAGE);
  const nSpecialSlots = 2; // -1 Info.plist (none), -2 requirements
  const cdHeader = 88; // CodeDirectory version 0x20400
  const hashOffset = cdHeader + ident.length + nSpecialSlots * 32;
  const cdLength = hashOffset + nCodeSlots * 32;
  const requirements = Buffer.alloc(12);
  requirements.writeUInt32BE(CSMAGIC_REQUIREMENTS, 0);
  requirements.writeUInt32BE(12, 4);
  requirements.writeUInt32BE(0, 8);
  const cms = Buffer.alloc(8);
  cms.writeUInt32BE(CSMAGIC_BLOBWRAPPER, 0);
  cms.writeUInt32BE(8, 4);
  const superHeader = 12 + 3 * 8;
  const superLength = superHeader + cdLength + requirements.length + cms.length;
  const datasize = align(superLength, 16);

  // Load commands first: they are in page 0, which the CodeDirectory hashes.
  head.writeUInt32LE(codeLimit, lcAt + 8);
  head.writeUInt32LE(datasize, lcAt + 12);
  const linkeditSize = codeLimit + datasize - m.linkedit.fileoff;
  const vmPage = m.cputype === CPU_TYPE_ARM64 ? 0x4000 : 0x1000;
  head.writeBigUInt64LE(BigInt(linkeditSize), m.linkedit.at + 48); // filesize
  head.writeBigUInt64LE(BigInt(align(linkeditSize, vmPage)), m.linkedit.at + 32); // vmsize

  const cd = Buffer.alloc(cdLength);
  cd.writeUInt32BE(CSMAGIC_CODEDIRECTORY, 0);
  cd.writeUInt32BE(cdLength, 4);
  cd.writeUInt32BE(0x20400, 8);
  cd.writeUInt32BE(CS_ADHOC, 12);
  cd.writeUInt32BE(hashOffset, 16);
  cd.writeUInt32BE(cdHeader, 20);
  cd.writeUInt32BE(nSpecialSlots, 24);
  cd.writeUInt32BE(nCodeSlots, 28);
  cd.writeUInt32BE(codeLimit, 32);
  cd.writeUInt8(32, 36); // hashSize
  cd.writeUInt8(2, 37); // hashType SHA-256
  cd.writeUInt8(0, 38); // platform
  cd.writeUInt8(12, 39); // log2(page size)
  // spare2, scatterOffset, teamOffset, spare3, codeLimit64 stay 0
  cd.writeBigUInt64BE(BigInt(m.text.fileoff), 64); // execSegBase
  cd.writeBigUInt64BE(BigInt(m.text.filesize), 72); // execSegLimit
  cd.writeBigUInt64BE(BigInt(m.filetype === MH_EXECUTE ? CS_EXECSEG_MAIN_BINARY : 0), 80);
  ident.copy(cd, cdHeader);
  createHash('sha256')
    .update(requirements)
    .digest()
    .copy(cd, hashOffset - 2 * 32);
  for (let i = 0; i < nCodeSlots; i++) {
    const page = head.subarray(i * PAGE, Math.min((i + 1) * PAGE, codeLimit));
    createHash('sha256')
      .update(page)
      .digest()
      .copy(cd, hashOffset + i * 32);
  }

  const sig = Buffer.alloc(datasize);
  sig.writeUInt32BE(CSMAGIC_EMBEDDED_SIGNATURE, 0);
  sig.writeUInt32BE(superLength, 4);
  sig.writeUInt32BE(3, 8);
  const blobs = [
    [0, cd], // CSSLOT_CODEDIRECTORY
    [2, requirements], // CSSLOT_REQUIREMENTS
    [0x10000, cms], // CSSLOT_SIGNATURESLOT: empty for ad hoc
  ];
  let off = superHeader;
  blobs.forEach(([type, blob], i) => {
    sig.writeUInt32BE(type, 12 + i * 8);
    sig.writeUInt32BE(off, 16 + i * 8);
    blob.copy(sig, off);
    off += blob.length;
  });
  return Buffer.concat([head, sig]);
}

/**
 * Checks an embedded ad-hoc signature against the file: every page hash, the requirements hash, and the load
 * command and __LINKEDIT that point at it. Returns a summary; throws on the first mismatch.
 */
export function verifyAdhoc(buf) {
  const m = parseMachO(buf);
  if (!m.codeSignature) throw new Error('no LC_CODE_SIGNATURE');
  const { dataoff, datasize } = m.codeSignature;
  if (dataoff + datasize !== buf.length) throw new Error('the signature does not end the file');
  if (m.linkedit.fileoff + m.linkedit.filesize !== buf.length)
    throw new Error('__LINKEDIT does not cover the signature');
  const sig = buf.subarray(dataoff, dataoff + datasize);
  if (sig.readUInt32BE(0) !== CSMAGIC_EMBEDDED_SIGNATURE) throw new Error('no embedded signature superblob');
  const count = sig.readUInt32BE(8);
  const blob = (type) => {
    for (let i = 0; i < count; i++) {
      if (sig.readUInt32BE(12 + i * 8) === type) {
        const at = sig.readUInt32BE(16 + i * 8);
        return sig.subarray(at, at + sig.readUInt32BE(at + 4));
      }
    }
    return undefined;
  };
  const cd = blob(0);
  if (!cd || cd.readUInt32BE(0) !== CSMAGIC_CODEDIRECTORY) throw new Error('no CodeDirectory');
  const flags = cd.readUInt32BE(12);
  const hashOffset = cd.readUInt32BE(16);
  const nCodeSlots = cd.readUInt32BE(28);
  const codeLimit = cd.readUInt32BE(32);
  if (cd[36] !== 32 || cd[37] !== 2 || cd[39] !== 12) throw new Error('not SHA-256 over 4 KiB pages');
  if (codeLimit !== dataoff) throw new Error('codeLimit is not the signature offset');
  if (nCodeSlots !== Math.ceil(codeLimit / PAGE)) throw new Error('wrong number of code slots');
  for (let i = 0; i < nCodeSlots; i++) {
    const want = createHash('sha256')
      .update(buf.subarray(i * PAGE, Math.min((i + 1) * PAGE, codeLimit)))
      .digest();
    if (!want.equals(cd.subarray(hashOffset + i * 32, hashOffset + (i + 1) * 32)))
      throw new Error(`page ${i} hash differs`);
  }
  const req = blob(2);
  if (
    req &&
    !createHash('sha256')
      .update(req)
      .digest()
      .equals(cd.subarray(hashOffset - 64, hashOffset - 32))
  )
    throw new Error('requirements hash differs');
  const identifier = cd.toString('utf8', cd.readUInt32BE(20), cd.indexOf(0, cd.readUInt32BE(20)));
  return { adhoc: (flags & CS_ADHOC) !== 0, identifier, pages: nCodeSlots, codeLimit };
}
