// The inspection CA: creating one (`ca init`), reading and checking the pair from disk, describing it
// (`ca show`). Imports nothing of the project, so config validation can use it without a cycle.
import { createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import forge from 'node-forge';

const DAY_MS = 24 * 60 * 60 * 1000;

export interface CaPair {
  readonly certPem: string;
  readonly keyPem: string;
}

/** A loaded, checked CA: forge objects for signing leaves, plus what `ca show` prints. */
export interface LoadedCa extends CaPair {
  readonly cert: forge.pki.Certificate;
  readonly key: forge.pki.rsa.PrivateKey;
  readonly subject: string;
  readonly fingerprint256: string;
  readonly validTo: Date;
}

export type CaLoad = { ok: true; ca: LoadedCa } | { ok: false; problem: string };

/** Node generates the RSA key natively (forge's pure-JS generator takes seconds); forge builds the cert. */
function rsaKeyPem(bits = 2048): string {
  return generateKeyPairSync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  }).privateKey;
}

/** A new self-signed CA, valid `days` days, allowed to sign server certificates only (pathlen 0). */
export function createCa(commonName = 'acr-egress inspection CA', days = 3650): CaPair {
  const keyPem = rsaKeyPem(2048);
  const key = forge.pki.privateKeyFromPem(keyPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - DAY_MS);
  cert.validity.notAfter = new Date(Date.now() + days * DAY_MS);
  const subject = [
    { name: 'commonName', value: commonName },
    { name: 'organizationName', value: 'acr-egress' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

function readText(file: string, what: string): string | { problem: string } {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    return { problem: `cannot read the ${what} "${file}": ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
}

/** Checks a PEM pair: parsable, a CA certificate, currently valid, an RSA key, and the key matches the cert. */
export function parseCa(certPem: string, keyPem: string, label = 'CA'): CaLoad {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch {
    return { ok: false, problem: `the ${label} certificate is not a PEM certificate` };
  }
  if (!x509.ca) return { ok: false, problem: `the ${label} certificate is not a CA (basicConstraints CA:FALSE)` };
  const now = Date.now();
  if (Date.parse(x509.validTo) < now) return { ok: false, problem: `the ${label} certificate expired ${x509.validTo}` };
  if (Date.parse(x509.validFrom) > now)
    return { ok: false, problem: `the ${label} certificate is not valid before ${x509.validFrom}` };
  let keyObject;
  try {
    keyObject = createPrivateKey(keyPem);
  } catch {
    return { ok: false, problem: `the ${label} key is not a PEM private key (or it is encrypted)` };
  }
  if (keyObject.asymmetricKeyType !== 'rsa')
    return {
      ok: false,
      problem: `the ${label} key is ${keyObject.asymmetricKeyType ?? 'unknown'}; only RSA is supported`,
    };
  if (!x509.checkPrivateKey(keyObject))
    return { ok: false, problem: `the ${label} key does not belong to the ${label} certificate` };
  // forge reads PKCS#1 only; re-export whatever format the file used.
  const pkcs1 = keyObject.export({ type: 'pkcs1', format: 'pem' }).toString();
  return {
    ok: true,
    ca: {
      certPem,
      keyPem: pkcs1,
      cert: forge.pki.certificateFromPem(certPem),
      key: forge.pki.privateKeyFromPem(pkcs1),
      subject: x509.subject.replace(/\n/g, ', '),
      fingerprint256: x509.fingerprint256,
      validTo: new Date(x509.validTo),
    },
  };
}

/** Reads and checks the CA files; the problem names the file and what is wrong with it. */
export function loadCa(certFile: string, keyFile: string): CaLoad {
  const cert = readText(certFile, 'CA certificate');
  if (typeof cert !== 'string') return { ok: false, problem: cert.problem };
  const key = readText(keyFile, 'CA key');
  if (typeof key !== 'string') return { ok: false, problem: key.problem };
  const loaded = parseCa(cert, key);
  return loaded.ok ? loaded : { ok: false, problem: `${loaded.problem} (${certFile}, ${keyFile})` };
}

/** Checks a file of extra trusted roots: at least one PEM certificate, every block parsable. */
export function checkRootsFile(file: string): string | null {
  const text = readText(file, 'upstream CA file');
  if (typeof text !== 'string') return text.problem;
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) return `"${file}" holds no PEM certificate`;
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      return `"${file}": certificate ${i + 1} is not valid PEM`;
    }
  }
  return null;
}
