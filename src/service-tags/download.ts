// One download of a config's service-tag source through the gateway's own egress (dns.servers,
// serviceTags.proxy or HTTPS_PROXY), unless the caller injects a fetch (tests, a fake site).
import type { Logger } from 'pino';
import { SERVICE_TAG_CLOUD } from '../config/cloud.js';
import type { LoadedConfig } from '../config/load.js';
import { createEgress } from './egress.js';
import type { FetchLike } from './fetch.js';
import { downloadServiceTags, type Obtained } from './source.js';
import { DEFAULT_USER_AGENT } from './user-agent.js';

/** A proxy URL without its credentials (HTTPS_PROXY may carry user:password), for the log. */
const redactUrl = (url: string): string => url.replace(/\/\/[^@/]*@/, '//***@');

export async function downloadForConfig(
  url: string,
  loaded: LoadedConfig,
  options: { fetchImpl?: FetchLike; env: NodeJS.ProcessEnv; log: Logger; signal: AbortSignal; now: () => number },
): Promise<Obtained> {
  const { config } = loaded;
  const st = config.serviceTags;
  const egress =
    options.fetchImpl === undefined
      ? createEgress({
          proxy: st.proxy,
          dnsServers: config.dns.servers,
          dnsTimeoutMs: config.dns.timeoutMs,
          env: options.env,
        })
      : null;
  if (egress?.proxy != null)
    options.log.info({ proxy: redactUrl(egress.proxy) }, 'service-tag download through a proxy');
  try {
    return await downloadServiceTags(
      url,
      SERVICE_TAG_CLOUD[config.cloud],
      {
        timeoutMs: st.fetchTimeoutMs,
        maxBytes: st.maxBytes,
        userAgent: st.userAgent ?? DEFAULT_USER_AGENT,
        log: options.log,
        fetchImpl: options.fetchImpl ?? egress!.fetch,
        signal: options.signal,
      },
      options.now,
    );
  } finally {
    await egress?.close().catch(() => undefined);
  }
}
