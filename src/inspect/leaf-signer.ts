// Leaf certificates for inspected hosts, signed on demand by the inspection CA for the exact SNI
// host. One leaf key for all hosts, made once; each host's TLS context is cached, so a host is
// signed once per validity period, not once per connection.
//
// The leaf key is EC P-256: the server's signature in every client handshake costs a fraction of an
// RSA-2048 one, and inspected clients open a tunnel per request. node-forge writes RSA keys only, so
// forge builds the TBSCertificate, the key's SubjectPublicKeyInfo (from Node) is put in its place,
// and Node's OpenSSL signs it with the CA key (forge's pure-JS RSA costs ~100 ms a signature).
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { LRUCache } from 'lru-cache';
import forge from 'node-forge';
import type { LoadedCa } from '../tls/ca.js';

const HOUR_MS = 60 * 60 * 1000;
const { asn1 } = forge;
/** Index of subjectPublicKeyInfo in a v3 TBSCertificate without issuer/subject unique ids. */
const TBS_SPKI = 6;
const SHA256_WITH_RSA = forge.pki.oids.sha256WithRSAEncryption as string;

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
  readonly #caKeyId: string;
  readonly #keyPem: string;
  readonly #spki: forge.asn1.Asn1;
  readonly #validityMs: number;
  readonly #cache: LRUCache<string, SecureContext>;
  readonly stats: LeafStats = { signatures: 0, hits: 0 };

  constructor(ca: LoadedCa, options: LeafSignerOptions = {}) {
    this.#ca = ca;
    this.#caKey = createPrivateKey(ca.keyPem);
    this.#caKeyId = ca.cert.generateSubjectKeyIdentifier().getBytes();
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    this.#keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const spkiDer = publicKey.export({ type: 'spki', format: 'der' });
    this.#spki = asn1.fromDer(forge.util.createBuffer(spkiDer.toString('binary')));
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
    // A placeholder for forge's encoder, which only writes RSA keys; replaced by the EC key below.
    cert.publicKey = this.#ca.cert.publicKey;
    cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
    // Backdated an hour: a client whose clock runs a little behind still accepts it.
    cert.validity.notBefore = new Date(Date.now() - HOUR_MS);
    cert.validity.notAfter = new Date(Date.now() + this.#validityMs);
    cert.setSubject([{ name: 'commonName', value: host.slice(0, 64) }]);
    cert.setIssuer(this.#ca.cert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: host }] },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.#caKeyId },
    ]);
    const withSig = cert as unknown as { siginfo: { algorithmOid: string }; signatureOid: string };
    withSig.siginfo.algorithmOid = SHA256_WITH_RSA;
    withSig.signatureOid = SHA256_WITH_RSA;
    const tbs = (
      forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }
    ).getTBSCertificate(cert);
    (tbs.value as forge.asn1.Asn1[])[TBS_SPKI] = this.#spki;
    const tbsDer = asn1.toDer(tbs).getBytes();
    const signature = sign('sha256', Buffer.from(tbsDer, 'binary'), this.#caKey).toString('binary');
    const algorithm = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(SHA256_WITH_RSA).getBytes()),
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, ''),
    ]);
    const full = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      tbs,
      algorithm,
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, `\u0000${signature}`),
    ]);
    return forge.pem.encode({ type: 'CERTIFICATE', body: asn1.toDer(full).getBytes() });
  }
}
