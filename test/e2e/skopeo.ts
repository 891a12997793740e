// Runs skopeo the way a locked-down host would: a clean environment (no inherited proxy settings),
// HTTPS_PROXY only when asked, an accept-anything trust policy and no stored credentials.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SkopeoResult {
  ok: boolean;
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface SkopeoCopy {
  from: string;
  to: string;
  /** --src-cert-dir / --dest-cert-dir (a directory with ca.crt). */
  srcCertDir?: string;
  destCertDir?: string;
  /** http://127.0.0.1:PORT: set as HTTPS_PROXY (and https_proxy), NO_PROXY empty. */
  proxy?: string;
  /** Scratch directory for the policy file, HOME and skopeo's temp files. */
  workDir: string;
  timeoutMs?: number;
  /** user:password for the source or destination registry; none by default. */
  srcCreds?: string;
  destCreds?: string;
}

export function skopeoCopy(o: SkopeoCopy): Promise<SkopeoResult> {
  const policy = join(o.workDir, 'policy.json');
  writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  const args = [
    '--policy',
    policy,
    '--tmpdir',
    o.workDir,
    'copy',
    '--retry-times',
    '0',
    ...(o.srcCreds === undefined ? ['--src-no-creds'] : ['--src-creds', o.srcCreds]),
    ...(o.destCreds === undefined ? ['--dest-no-creds'] : ['--dest-creds', o.destCreds]),
  ];
  if (o.srcCertDir !== undefined) args.push('--src-cert-dir', o.srcCertDir);
  if (o.destCertDir !== undefined) args.push('--dest-cert-dir', o.destCertDir);
  args.push(o.from, o.to);
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: o.workDir, TMPDIR: o.workDir };
  if (o.proxy !== undefined) {
    Object.assign(env, {
      HTTPS_PROXY: o.proxy,
      https_proxy: o.proxy,
      HTTP_PROXY: o.proxy,
      http_proxy: o.proxy,
      NO_PROXY: '',
      no_proxy: '',
    });
  }
  return new Promise((resolve) => {
    execFile(
      'skopeo',
      args,
      { env, timeout: o.timeoutMs ?? 30_000, maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ ok: err === null, code, stdout, stderr });
      },
    );
  });
}
