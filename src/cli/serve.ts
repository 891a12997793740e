// `acr-egress serve`: runs the gateway until SIGTERM/SIGINT (graceful drain); SIGHUP reloads.
import { Gateway } from '../gateway.js';
import { reportError, type Io } from './output.js';

export async function runServe(io: Io, configFile: string): Promise<number> {
  let gateway: Gateway;
  try {
    gateway = await Gateway.create({ configFile });
    await gateway.listen();
  } catch (err) {
    return reportError(io, err, 1);
  }
  return new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      gateway.log.info({ signal }, 'signal received');
      gateway.stop().then(
        () => resolve(0),
        (err: unknown) => resolve(reportError(io, err, 1)),
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      void gateway.reload();
    });
  });
}
