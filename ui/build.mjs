// Builds the admin dashboard (ui/src) into dist/ui: one minified script, one stylesheet and the HTML
// shell, each also precompressed (gzip, brotli) so the admin API sends them without compressing per request.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'dist', 'ui');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(here, 'src', 'main.tsx'), style: join(here, 'src', 'style.css') },
  outdir: out,
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync(join(here, 'index.html'), join(out, 'index.html'));

const sizes = [];
for (const name of readdirSync(out)) {
  const raw = readFileSync(join(out, name));
  const gz = gzipSync(raw, { level: 9 });
  const br = brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } });
  writeFileSync(join(out, `${name}.gz`), gz);
  writeFileSync(join(out, `${name}.br`), br);
  sizes.push(`${name} ${raw.length} B (gzip ${gz.length}, br ${br.length})`);
}
if (process.env.UI_BUILD_QUIET !== '1') process.stdout.write(`dashboard built in dist/ui: ${sizes.join('; ')}\n`);
