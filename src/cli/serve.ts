// `acr-egress serve`: runs the proxy listeners and the admin API until SIGTERM/SIGINT (graceful
// drain, readiness false while draining); SIGHUP reloads the config and reopens log.file; SIGUSR2
// only reopens log.file.
import { adminDepsFromGateway } from '../admin/from-gateway.js';
import { startAdmin, type RunningAdmin } from '../admin/start.js';
import { rebuildFromLog } from '../audit/tail.js';
import { Gateway } from '../gateway.js';
import { configPath } from '../config/load.js';
import { parseCommandArgs, usageError, type Command } from './command.js';
import { reportError, type Io } from './output.js';

export const serveCommand: Command = {
  name: 'serve',
  usage: `  serve [--config FILE]                      run the proxy and the admin API`,
  async run(io, argv) {
    const { values, positionals } = parseCommandArgs('serve', {
      args: argv,
      options: { config: { type: 'string' } },
      allowPositionals: true,
    });
    if (positionals.length > 0)
      throw usageError(`serve takes no arguments (got ${positionals.join(' ')}): try acr-egress serve --config FILE`);
    return runServe(io, configPath(values.config));
  },
};

async function runServe(io: Io, configFile: string): Promise<number> {
  let gateway: Gateway;
  try {
    gateway = await Gateway.create({ configFile });
  } catch (err) {
    return reportError(io, err, 1);
  }
  let admin: RunningAdmin | null = null;
  try {
    // The store is rebuilt from the audit log before any new record, so a redeploy keeps the last hour.
    const { file, recent } = gateway.config.config.log;
    if (file !== null) {
      const rebuilt = await rebuildFromLog(gateway.store, file, recent);
      gateway.log.info({ file, rebuilt }, 'decision store rebuilt from the audit log');
    }
    await gateway.listen();
    admin = await startAdmin(adminDepsFromGateway(gateway), gateway.config.config.admin.listen);
  } catch (err) {
    await gateway.stop();
    return reportError(io, err, 1);
  }
  return new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      gateway.log.info({ signal }, 'signal received');
      gateway
        .stop()
        .then(() => admin?.app.close())
        .then(
          () => resolve(0),
          (err: unknown) => resolve(reportError(io, err, 1)),
        );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // logrotate renames log.file and sends either signal: the next record opens a new file at the path.
    process.on('SIGHUP', () => {
      gateway.reopenAuditLog();
      // A refused config resolves (and is logged by reload); a rejection is a bug, logged, not fatal.
      gateway.reload().catch((err: unknown) => gateway.log.error({ err: String(err) }, 'config reload failed'));
    });
    process.on('SIGUSR2', () => {
      gateway.log.info({ signal: 'SIGUSR2' }, 'reopening the audit log');
      gateway.reopenAuditLog();
    });
  });
}
