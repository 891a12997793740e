// Leaf certificates for inspected hosts, signed on demand by the inspection CA for the exact SNI
// host. One leaf key for all hosts (made once: RSA generation is the costly part); each host's
// TLS context is cached, so a host is signed once per validity period, not once per connection.
import { createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { LRUCache } from 'lru-cache';
import forge from 'node-forge';
import { rsaKeyPem, type LoadedCa } from './ca.js';

const HOUR_MS = 60 * 60 * 1000;

export interface LeafSignerOptions {
  /** How long a leaf is valid; the cache drops it well before then. */
  validityHours?: number;
  /** Hosts kept; the least recently used is signed again when it comes back. */
  cacheSize?: number;
}

export interface LeafStats {
  signatures: number;
  hits: number;
}

export class LeafSigner {
  readonly #ca: LoadedCa;
  readonly #caKey: KeyObject;
  readonly #keyPem: string;
  readonly #publicKey: forge.pki.rsa.PublicKey;
  readonly #validityMs: number;
  readonly #cache: LRUCache<string, SecureContext>;
  readonly stats: LeafStats = { signatures: 0, hits: 0 };

  constructor(ca: LoadedCa, options: LeafSignerOptions = {}) {
    this.#ca = ca;
    this.#caKey = createPrivateKey(ca.keyPem);
    this.#keyPem = rsaKeyPem(2048);
    const key = forge.pki.privateKeyFromPem(this.#keyPem) as forge.pki.rsa.PrivateKey;
    this.#publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
    this.#validityMs = (options.validityHours ?? 24) * HOUR_MS;
    // Cached for half the validity: a context never outlives its certificate.
    this.#cache = new LRUCache({ max: options.cacheSize ?? 1000, ttl: this.#validityMs / 2 });
  }

  /** The TLS context presenting a leaf for `host` (an already normalised DNS name). */
  contextFor(host: string): SecureContext {
    const cached = this.#cache.get(host);
    if (cached !== undefined) {
      this.stats.hits++;
      return cached;
    }
    const context = createSecureContext({ key: this.#keyPem, cert: this.#sign(host) });
    this.stats.signatures++;
    this.#cache.set(host, context);
    return context;
  }

  #sign(host: string): string {
    const cert = forge.pki.createCertificate();
    cert.publicKey = this.#publicKey;
    cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
    // Backdated an hour: a client whose clock runs a little behind still accepts it.
    cert.validity.notBefore = new Date(Date.now() - HOUR_MS);
    cert.validity.notAfter = new Date(Date.now() + this.#validityMs);
    cert.setSubject([{ name: 'commonName', value: host.slice(0, 64) }]);
    cert.setIssuer(this.#ca.cert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: host }] },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.#ca.cert.generateSubjectKeyIdentifier().getBytes() },
    ]);
    cert.sign(nativeSigner(this.#caKey), collectingSha256() as unknown as forge.md.MessageDigest);
    return forge.pki.certificateToPem(cert);
  }
}

/**
 * forge builds the certificate; Node's OpenSSL signs it (forge's pure-JS RSA takes ~100 ms a
 * signature, OpenSSL well under one). forge hands the signer a digest object it has fed the TBS
 * bytes to: this one only collects them, and the key signs them with SHA-256 natively.
 */
interface CollectingDigest {
  readonly algorithm: 'sha256';
  bytes: string;
  update(bytes: string): CollectingDigest;
}

function collectingSha256(): CollectingDigest {
  return {
    algorithm: 'sha256',
    bytes: '',
    update(bytes: string) {
      this.bytes += bytes;
      return this;
    },
  };
}

function nativeSigner(key: KeyObject): forge.pki.rsa.PrivateKey {
  const signer = {
    sign: (md: CollectingDigest): string => sign('sha256', Buffer.from(md.bytes, 'binary'), key).toString('binary'),
  };
  return signer as unknown as forge.pki.rsa.PrivateKey;
}
