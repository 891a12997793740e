// The default handler of the handle stage: splices the client to the raw upstream the pipeline
// dialled, until it ends (idle, either side closing, or proxy.limits.maxTunnelSeconds), then records
// the tunnel with the bytes it carried.
import type { TunnelHandler, TunnelJob } from './context.js';
import { pump } from './pump.js';

export const SPLICE: TunnelHandler = {
  claims: () => true,
  rawUpstream: true,
  run: splice,
};

async function splice(job: TunnelJob): Promise<void> {
  const dialed = job.upstream;
  // The pipeline dials a splice's upstream with its reader (rawUpstream); nothing else can be spliced.
  if (dialed === null || dialed.reader === null) {
    job.client.destroy();
    return;
  }
  const { upstream, reader } = dialed;
  const { settings, events } = job;
  const maxSeconds = settings.limits.maxTunnelSeconds;
  let expired = false;
  const timer =
    maxSeconds > 0
      ? setTimeout(() => {
          expired = true;
          job.client.destroy();
        }, maxSeconds * 1000)
      : null;
  events?.opened();
  await pump(job.client, upstream, reader, job.first, settings.idleTimeoutMs);
  if (timer !== null) clearTimeout(timer);
  events?.closed(reader.stats.bytesUp, reader.stats.bytesDown);
  let decision = job.decision;
  if (expired) {
    events?.limited?.('lifetime');
    decision = { ...decision, detail: `closed at proxy.limits.maxTunnelSeconds (${maxSeconds} s)` };
  }
  job.record(decision, reader.stats.bytesUp, reader.stats.bytesDown);
}
