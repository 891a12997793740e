// The User-Agent of the gateway's own downloads: says honestly which program and version asks.

import { readFileSync } from 'node:fs';

function packageVersion(): string {
  // Same relative place from src/service-tags/ (tsx) and dist/service-tags/ (built).
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      name?: string;
      version?: string;
    };
    return pkg.name === 'acr-egress' && typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export const DEFAULT_USER_AGENT = `acr-egress/${packageVersion()}`;
