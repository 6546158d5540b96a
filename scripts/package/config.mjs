// Reads and checks .goreleaser-like-release.yml, the one description of a release (see docs/PACKAGING.md).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export const CONFIG_FILE = '.goreleaser-like-release.yml';

const GO_TO_NODE_OS = { linux: 'linux', darwin: 'darwin', windows: 'win32' };
const GO_TO_NODE_ARCH = { amd64: 'x64', arm64: 'arm64' };

function fail(msg) {
  throw new Error(`${CONFIG_FILE}: ${msg}`);
}

function only(obj, where, keys) {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) fail(`${where} must be a mapping`);
  for (const k of Object.keys(obj))
    if (!keys.includes(k)) fail(`${where}.${k} is not a known key (known: ${keys.join(', ')})`);
  return obj;
}

function str(v, where) {
  if (typeof v !== 'string' || v.trim() === '') fail(`${where} must be a non-empty string`);
  return v;
}

/** Fills {name} placeholders; an unknown placeholder is an error, not an empty string. */
export function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, k) => {
    if (!(k in values)) fail(`unknown placeholder {${k}} in ${JSON.stringify(template)}`);
    return String(values[k]);
  });
}

/** Parses "name@version" of a node package entry. */
export function parseNodeRef(ref) {
  const at = ref.lastIndexOf('@');
  if (at <= 0) fail(`node package ${JSON.stringify(ref)} must be NAME@VERSION`);
  return { name: ref.slice(0, at), version: ref.slice(at + 1) };
}

export function loadConfig(root) {
  const raw = parse(readFileSync(join(root, CONFIG_FILE), 'utf8'));
  only(raw, 'top level', [
    'project_name',
    'version',
    'build',
    'node_packages',
    'targets',
    'archives',
    'checksum',
    'release',
    'krew',
  ]);
  str(raw.project_name, 'project_name');

  only(raw.version, 'version', ['from']);
  if (raw.version.from !== 'package.json') fail('version.from: only package.json is supported');
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const version = str(pkg.version, 'package.json version');
  if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version)) fail(`package.json version ${version} is not semver`);

  const build = only(raw.build, 'build', ['binary', 'main', 'bundle', 'sea']);
  str(build.binary, 'build.binary');
  str(build.main, 'build.main');
  only(build.bundle, 'build.bundle', ['target', 'minify']);
  str(build.bundle.target, 'build.bundle.target');
  only(build.sea, 'build.sea', ['generator', 'disable_experimental_warning']);
  str(build.sea.generator, 'build.sea.generator');

  const nodePackages = new Map();
  for (const [ref, integrity] of Object.entries(
    only(raw.node_packages, 'node_packages', Object.keys(raw.node_packages ?? {})),
  )) {
    parseNodeRef(ref);
    if (!/^sha512-[A-Za-z0-9+/]+=*$/.test(String(integrity)))
      fail(`node_packages.${ref} must be an npm sha512 integrity`);
    nodePackages.set(ref, String(integrity));
  }

  if (!Array.isArray(raw.targets) || raw.targets.length === 0) fail('targets must be a non-empty list');
  const seen = new Set();
  const targets = raw.targets.map((t, i) => {
    only(t, `targets[${i}]`, ['os', 'arch', 'node', 'signing']);
    if (!(t.os in GO_TO_NODE_OS))
      fail(`targets[${i}].os ${t.os} is not one of ${Object.keys(GO_TO_NODE_OS).join(', ')}`);
    if (!(t.arch in GO_TO_NODE_ARCH))
      fail(`targets[${i}].arch ${t.arch} is not one of ${Object.keys(GO_TO_NODE_ARCH).join(', ')}`);
    const id = `${t.os}/${t.arch}`;
    if (seen.has(id)) fail(`targets: ${id} is listed twice`);
    seen.add(id);
    if (!nodePackages.has(t.node)) fail(`targets[${i}].node ${t.node} is not pinned in node_packages`);
    const node = parseNodeRef(t.node);
    const generator = `${build.sea.generator}@${node.version}`;
    if (!nodePackages.has(generator))
      fail(`targets[${i}] needs the blob generator ${generator} pinned in node_packages`);
    const signing = t.signing ?? 'unsigned';
    if (!['unsigned', 'adhoc'].includes(signing)) fail(`targets[${i}].signing must be unsigned or adhoc`);
    if (signing === 'adhoc' && t.os !== 'darwin') fail(`targets[${i}].signing adhoc is for darwin only`);
    return {
      os: t.os,
      arch: t.arch,
      id,
      nodeOs: GO_TO_NODE_OS[t.os],
      nodeArch: GO_TO_NODE_ARCH[t.arch],
      node: { ref: t.node, ...node, integrity: nodePackages.get(t.node) },
      generator: { ref: generator, ...parseNodeRef(generator), integrity: nodePackages.get(generator) },
      exe: t.os === 'windows' ? `${build.binary}.exe` : build.binary,
      signing,
    };
  });

  const archives = only(raw.archives, 'archives', ['name_template', 'format', 'format_overrides', 'files']);
  str(archives.name_template, 'archives.name_template');
  if (!['tar.gz', 'zip'].includes(archives.format)) fail('archives.format must be tar.gz or zip');
  const overrides = (archives.format_overrides ?? []).map((o, i) =>
    only(o, `archives.format_overrides[${i}]`, ['os', 'format']),
  );
  const files = (archives.files ?? []).map((f, i) => {
    only(f, `archives.files[${i}]`, ['src', 'generated', 'dst', 'mode', 'os']);
    if ((f.src === undefined) === (f.generated === undefined))
      fail(`archives.files[${i}] needs exactly one of src and generated`);
    if (f.generated !== undefined && f.generated !== 'third-party-notices')
      fail(`archives.files[${i}].generated must be third-party-notices`);
    str(f.dst, `archives.files[${i}].dst`);
    if (f.mode !== undefined && !/^0[0-7]{3}$/.test(String(f.mode)))
      fail(`archives.files[${i}].mode must be octal like "0755"`);
    return {
      src: f.src,
      generated: f.generated,
      dst: f.dst,
      mode: f.mode ? parseInt(f.mode, 8) : 0o644,
      os: f.os ?? null,
    };
  });
  if (!files.some((f) => /^licen[cs]e(\.(txt|md))?$/i.test(f.dst)))
    fail('archives.files must include a LICENSE (krew requires one)');

  only(raw.checksum, 'checksum', ['name_template', 'algorithm']);
  if (raw.checksum.algorithm !== 'sha256') fail('checksum.algorithm must be sha256');
  only(raw.release, 'release', ['url_template']);
  str(raw.release.url_template, 'release.url_template');

  const krew = only(raw.krew, 'krew', ['manifest', 'name', 'homepage', 'shortDescription', 'description', 'caveats']);
  for (const k of ['manifest', 'name', 'homepage', 'shortDescription', 'description', 'caveats'])
    str(krew[k], `krew.${k}`);

  const values = { binary: build.binary, version };
  return {
    root,
    projectName: raw.project_name,
    version,
    tag: `v${version}`,
    build,
    nodePackages,
    targets,
    archiveFor(target) {
      const format = overrides.find((o) => o.os === target.os)?.format ?? archives.format;
      const base = fill(archives.name_template, { ...values, os: target.os, arch: target.arch });
      return {
        name: `${base}.${format}`,
        format,
        files: files.filter((f) => f.os === null || f.os.includes(target.os)),
      };
    },
    checksumName: fill(raw.checksum.name_template, values),
    urlFor: (archive) => fill(raw.release.url_template, { version, archive }),
    krew,
  };
}

/** The target entry for this machine, or an error naming what is supported. */
export function hostTarget(config) {
  const t = config.targets.find((x) => x.nodeOs === process.platform && x.nodeArch === process.arch);
  if (!t) throw new Error(`no target in ${CONFIG_FILE} for this machine (${process.platform}/${process.arch})`);
  return t;
}
