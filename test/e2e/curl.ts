// curl through the gateway's proxy port, trusting the gateway's inspection CA: the answer's status,
// its body (as far as it came) and curl's exit code, which says whether the body was cut short.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Fetched {
  status: number;
  body: Buffer;
  exit: number;
}

/** GET url through proxyUrl; `extra` goes before the URL (-u, -H); scratch files go under work. */
export function curlThrough(
  proxyUrl: string,
  caCert: string,
  url: string,
  extra: string[],
  work: string,
): Promise<Fetched> {
  const out = join(mkdtempSync(join(work, 'curl-')), 'body');
  const args = ['-sS', '--max-time', '20', '--proxy', proxyUrl, '--cacert', caCert, ...extra];
  args.push('-o', out, '-w', '%{http_code}', url);
  return new Promise((resolve) => {
    execFile('curl', args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }, (err, stdout) => {
      const exit = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ status: Number(stdout), body: existsSync(out) ? readFileSync(out) : Buffer.alloc(0), exit });
    });
  });
}
