// Which Node.js lines acr-egress runs on, and the one line it prints on any other. Imported first by
// the entry point, so it imports nothing and uses syntax every Node since 12 parses.

/** The lines package.json `engines` claims: the floor of 22 is where node:sqlite needs no flag. */
export const SUPPORTED_NODE = '^22.13.0 || ^24 || ^26';

/**
 * null when `version` (as in process.versions.node, e.g. "22.13.0") can run acr-egress, else the
 * one line to print: what it needs, what it found, and how to get Node 24 or 26.
 */
export function runtimeProblem(version: string): string | null {
  const parts = version.split('.').map(Number);
  const major = parts[0] ?? 0;
  const minor = parts[1] ?? 0;
  if (major > 22 || (major === 22 && minor >= 13)) return null;
  return (
    `acr-egress: needs Node.js ${SUPPORTED_NODE}, found ${version}; ` +
    'get Node 24 or 26 with `nvm install 24`, `npm install -g node@24`, or the node:26-bookworm-slim image'
  );
}
