// The layer-cache scenario's registry client: one image pull as a container runtime makes it (ping,
// manifest, then the config and every layer at once, following the registry's redirect to storage),
// through a CONNECT proxy or straight to the fixture. In the bench process instead of 16 skopeo
// processes: skopeo re-hashes and writes every byte it pulls, which on 2 cores would take the CPU the
// proxies are being measured with. This client counts the bytes (and checks the count) but does not
// hash them; the cache verifies what it serves, and the e2e tests pull with skopeo.
import { Agent, ProxyAgent, request, type Dispatcher } from 'undici';

export interface PullTarget {
  /** https://<login server>:<port> */
  readonly registry: string;
  readonly repository: string;
  readonly tag: string;
  /** CA certificates the client trusts (the registry's, and the inspecting proxy's). */
  readonly ca: readonly string[];
  /** The proxy (http://127.0.0.1:port), or null to connect directly. */
  readonly proxy: string | null;
  /** Direct connections only: host name -> loopback address (the client's own resolver). */
  readonly hosts: Readonly<Record<string, string>>;
}

export interface PullResult {
  readonly seconds: number;
  /** Body bytes of the config and layers received. */
  readonly bytes: number;
}

interface Descriptor {
  readonly digest: string;
  readonly size: number;
}

const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

type LookupCallback = (
  err: Error | null,
  address: string | { address: string; family: number }[],
  family?: number,
) => void;

/** A resolver answering from a fixed table (no traffic to any DNS server), as net.connect calls it. */
export function tableLookup(hosts: Readonly<Record<string, string>>) {
  return (host: string, opts: { all?: boolean }, cb: LookupCallback): void => {
    const ip = hosts[host];
    if (ip === undefined) cb(new Error(`no bench address for ${host}`), '', 4);
    else if (opts.all === true) cb(null, [{ address: ip, family: 4 }]);
    else cb(null, ip, 4);
  };
}

function dispatcherFor(t: PullTarget): Dispatcher {
  const ca = [...t.ca];
  if (t.proxy !== null) return new ProxyAgent({ uri: t.proxy, requestTls: { ca } });
  return new Agent({ connect: { ca, lookup: tableLookup(t.hosts) } });
}

/** GET url, following redirects (a layer GET answers 307 to storage unless the cache serves it). */
async function get(d: Dispatcher, url: string, headers: Record<string, string>): Promise<Dispatcher.ResponseData> {
  for (let hops = 0; hops < 5; hops++) {
    const res = await request(url, { dispatcher: d, method: 'GET', headers });
    if (res.statusCode < 300 || res.statusCode >= 400) {
      if (res.statusCode !== 200) {
        const text = (await res.body.text()).slice(0, 200);
        throw new Error(`GET ${url}: ${res.statusCode} ${text}`);
      }
      return res;
    }
    await res.body.dump();
    const location = res.headers.location;
    if (typeof location !== 'string') throw new Error(`GET ${url}: ${res.statusCode} without a Location`);
    url = new URL(location, url).href;
  }
  throw new Error(`GET ${url}: too many redirects`);
}

async function blob(d: Dispatcher, t: PullTarget, desc: Descriptor): Promise<number> {
  const res = await get(d, `${t.registry}/v2/${t.repository}/blobs/${desc.digest}`, {});
  let n = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) n += chunk.length;
  if (n !== desc.size) throw new Error(`blob ${desc.digest}: ${n} bytes, the manifest says ${desc.size}`);
  return n;
}

/** One pull with its own connections (as one client machine would), closed afterwards. */
export async function pullImage(t: PullTarget): Promise<PullResult> {
  const d = dispatcherFor(t);
  const t0 = performance.now();
  try {
    await (await get(d, `${t.registry}/v2/`, {})).body.dump();
    const res = await get(d, `${t.registry}/v2/${t.repository}/manifests/${t.tag}`, { accept: MANIFEST_TYPES });
    const manifest = (await res.body.json()) as { config: Descriptor; layers: Descriptor[] };
    const sizes = await Promise.all([manifest.config, ...manifest.layers].map((desc) => blob(d, t, desc)));
    return { seconds: (performance.now() - t0) / 1000, bytes: sizes.reduce((a, b) => a + b, 0) };
  } finally {
    await d.close();
  }
}

/** n pulls at once; the wall time is the burst's, from the first request to the last byte. */
export async function pullBurst(t: PullTarget, n: number): Promise<PullResult> {
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: n }, () => pullImage(t)));
  return { seconds: (performance.now() - t0) / 1000, bytes: results.reduce((a, r) => a + r.bytes, 0) };
}
