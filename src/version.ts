// The package version, read once from package.json: the same file sits one folder above both src/
// (tests, tsx) and dist/ (the build and the image), so one relative path serves both.
import { readFileSync } from 'node:fs';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
