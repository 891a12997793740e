// Test certificates: a CA and leaf certificates for DNS names and IP addresses, as PEM. Keys come
// from Node's native RSA (forge's pure-JS one takes seconds) and everything is cached per process.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';

export interface PemPair {
  key: string;
  cert: string;
}

const DEFAULT_CA_NAME = 'acr-egress test CA';
const DAY_MS = 24 * 60 * 60 * 1000;

// Each CA gets its own key, so a second CA really is a stranger to the first; all leaves share one
// key, since what tells them apart is the certificate.
let leafKeyPem: string | undefined;
const cas = new Map<string, PemPair>();
const leaves = new Map<string, PemPair>();

function rsaKeyPem(): string {
  return generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  }).privateKey;
}

function newCertificate(
  keyPem: string,
  commonName: string,
): { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey } {
  const key = forge.pki.privateKeyFromPem(keyPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  // A leading 01 keeps the DER integer positive, as RFC 5280 requires.
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  // Backdated an hour so clock skew between test processes never makes a fresh cert "not yet valid".
  cert.validity.notBefore = new Date(Date.now() - DAY_MS / 24);
  cert.validity.notAfter = new Date(Date.now() + 365 * DAY_MS);
  cert.setSubject([{ name: 'commonName', value: commonName }]);
  return { cert, key };
}

/** A self-signed CA; the same name returns the same CA within a process, another name a new one. */
export function makeCa(commonName: string = DEFAULT_CA_NAME): PemPair {
  const cached = cas.get(commonName);
  if (cached) return cached;
  const keyPem = rsaKeyPem();
  const { cert, key } = newCertificate(keyPem, commonName);
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key, forge.md.sha256.create());
  const pair = { key: keyPem, cert: forge.pki.certificateToPem(cert) };
  cas.set(commonName, pair);
  return pair;
}

/**
 * A server (and client) certificate signed by `ca` for `names`: IP literals become IP SANs, the
 * rest DNS SANs; the first name is also the subject CN. Cached per CA and name list.
 */
export function makeLeaf(ca: PemPair, names: readonly string[]): PemPair {
  if (names.length === 0) throw new Error('makeLeaf needs at least one name');
  const cacheKey = `${ca.cert}\n${names.join(',')}`;
  const cached = leaves.get(cacheKey);
  if (cached) return cached;
  leafKeyPem ??= rsaKeyPem();
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const { cert } = newCertificate(leafKeyPem, names[0]!);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    {
      name: 'subjectAltName',
      altNames: names.map((name) => (isIP(name) ? { type: 7, ip: name } : { type: 2, value: name })),
    },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  const pair = { key: leafKeyPem, cert: forge.pki.certificateToPem(cert) };
  leaves.set(cacheKey, pair);
  return pair;
}
