// Starts a listener (proxy or transparent) on its configured address; a failure is an
// AcrEgressError LISTEN_FAILED naming the config key, like the admin API's, never a raw errno.
import type { AddressInfo, Server } from 'node:net';
import { AcrEgressError } from '../errors.js';
import type { ListenAddress } from '../net/listen.js';

export function listenOn(server: Server, addr: ListenAddress, key: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const where = addr.host.includes(':') ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
      reject(
        new AcrEgressError('LISTEN_FAILED', `${key} ${where}: cannot listen (${err.code ?? err.message})`, {
          cause: err,
        }),
      );
    };
    server.once('error', onError);
    server.listen(addr.port, addr.host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}
