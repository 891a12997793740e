// `acr-egress ca init|show`: the local CA that signs leaf certificates for inspected registries.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createCa, parseCa } from '../tls/ca.js';
import { parseCommandArgs, usageError, type Command } from './command.js';
import type { Io } from './output.js';

const DEFAULT_CA_DIR = 'data/ca';

const CA_USAGE = `  ca init [--dir DIR] [--force]              create DIR/ca.crt and DIR/ca.key (0600) for inspection
  ca show [--dir DIR]                        subject, fingerprint, expiry, and how clients trust it`;

function trustSteps(certFile: string): string {
  return `How clients trust it (replace <registry> with the inspected login server, e.g. myregistry.azurecr.io):
  Docker:       sudo mkdir -p /etc/docker/certs.d/<registry> && sudo cp ${certFile} /etc/docker/certs.d/<registry>/ca.crt
  containerd:   sudo mkdir -p /etc/containerd/certs.d/<registry> && sudo cp ${certFile} /etc/containerd/certs.d/<registry>/ca.crt
                then /etc/containerd/certs.d/<registry>/hosts.toml:
                  server = "https://<registry>"
                  [host."https://<registry>"]
                    capabilities = ["pull", "resolve"]
                    ca = "/etc/containerd/certs.d/<registry>/ca.crt"
  IoT Edge:     the moby engine reads the Docker path: sudo mkdir -p /etc/docker/certs.d/<registry> &&
                sudo cp ${certFile} /etc/docker/certs.d/<registry>/ca.crt (no restart needed)
  OS (Debian/Ubuntu): sudo cp ${certFile} /usr/local/share/ca-certificates/acr-egress.crt && sudo update-ca-certificates
  OS (RHEL/Azure Linux): sudo cp ${certFile} /etc/pki/ca-trust/source/anchors/acr-egress.crt && sudo update-ca-trust`;
}

export const caCommand: Command = { name: 'ca', usage: CA_USAGE, run: (io, argv) => runCa(io, argv) };

async function runCa(io: Io, argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('ca', {
    args: argv,
    options: { dir: { type: 'string' }, force: { type: 'boolean', default: false } },
    allowPositionals: true,
  });
  const sub = positionals[0];
  if (sub !== 'init' && sub !== 'show') throw usageError('ca takes init or show: try acr-egress ca init --dir data/ca');
  if (positionals.length !== 1)
    throw usageError(`ca ${sub} takes no arguments: try acr-egress ca ${sub} --dir data/ca`);
  const dir = resolve(values.dir ?? DEFAULT_CA_DIR);
  const certFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'ca.key');
  if (sub === 'init') {
    if (!values.force && (existsSync(certFile) || existsSync(keyFile))) {
      io.err(`acr-egress ca init: ${existsSync(keyFile) ? keyFile : certFile} exists; use --force to replace it`);
      return 1;
    }
    const ca = createCa();
    mkdirSync(dir, { recursive: true });
    // The key is written 0600 from the start (no window where it is readable), and re-chmodded on --force.
    writeFileSync(keyFile, ca.keyPem, { mode: 0o600 });
    chmodSync(keyFile, 0o600);
    writeFileSync(certFile, ca.certPem, { mode: 0o644 });
    io.out(`wrote ${certFile} and ${keyFile}`);
  }
  let certPem: string;
  let keyPem: string;
  try {
    certPem = readFileSync(certFile, 'utf8');
    keyPem = readFileSync(keyFile, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const dirArg = values.dir === undefined ? '' : ` --dir ${values.dir}`;
    io.err(
      code === 'ENOENT'
        ? `acr-egress ca show: no CA in ${dir} (${existsSync(certFile) ? keyFile : certFile} does not exist): create one with acr-egress ca init${dirArg}`
        : `acr-egress ca show: cannot read ${certFile} / ${keyFile}: ${code}`,
    );
    return 1;
  }
  const loaded = parseCa(certPem, keyPem);
  if (!loaded.ok) {
    io.err(`acr-egress ca show: ${loaded.problem} (${certFile}, ${keyFile})`);
    return 1;
  }
  const { ca } = loaded;
  io.out(`subject:      ${ca.subject}`);
  io.out(`sha256:       ${ca.fingerprint256}`);
  io.out(`expires:      ${ca.validTo.toISOString()}`);
  io.out(`config:       inspect.caCertFile: ${certFile}\n              inspect.caKeyFile: ${keyFile}`);
  io.out(trustSteps(certFile));
  return 0;
}
