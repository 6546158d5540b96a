// The krew manifest template at the repository's top level (plugin.yaml), in krew-release-bot's format: Go template
// actions `{{ .TagName }}` (the release tag) and `{{addURIAndSha "URL" .TagName }}` (the uri of an archive and its
// sha256). krew-release-bot renders it when a release is published; scripts/release renders it the same way from the
// archives it built, so the manifest shipped is the template with real checksums.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const TEMPLATE_FILE = 'plugin.yaml';

const TAG = /\{\{\s*\.TagName\s*\}\}/g;
const URI_AND_SHA = /^(\s*)\{\{\s*addURIAndSha\s+"([^"]+)"\s+\.TagName\s*\}\}\s*$/gm;

/**
 * Renders `template` for `tag`; `sha256Of(url)` gives the checksum of the archive at that URL (it throws for an
 * archive that was not built). Returns the manifest text and the archive URLs it names, in order.
 */
export function renderKrewTemplate(template, tag, sha256Of) {
  const urls = [];
  const body = template.replace(/^#.*\n/gm, ''); // the comments speak of the template, not of the release
  const text = body
    .replace(URI_AND_SHA, (_m, indent, rawUrl) => {
      const url = rawUrl.replace(TAG, tag);
      urls.push(url);
      return `${indent}uri: ${url}\n${indent}sha256: ${sha256Of(url)}`;
    })
    .replace(TAG, tag);
  if (/\{\{/.test(text)) throw new Error(`${TEMPLATE_FILE}: a template action is left after rendering`);
  return { text, urls };
}

export function readKrewTemplate(root) {
  return readFileSync(join(root, TEMPLATE_FILE), 'utf8');
}
