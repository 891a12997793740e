// `acr-egress logs import FILE`: loads an audit log (JSON lines) into the configured store, for a
// backfill after an outage or a new deployment that keeps its history. Idempotent on record id.
import { createReadStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import pino from 'pino';
import { parseDecisionLine } from '../audit/tail.js';
import { EXIT } from '../errors.js';
import { usageError } from './command.js';
import { DecisionStore } from '../store/ring.js';
import { configPath, loadConfigFile } from '../config/load.js';
import { instanceName, StoreService } from '../store/service.js';
import type { StoredRecord } from '../store/types.js';
import { reportError, type Io } from './output.js';

export const LOGS_IMPORT_USAGE = `  logs import FILE [--config FILE]           load an audit log (JSON lines) into the configured store
                                             (audit.store embedded or postgres); records already there are skipped`;

const BATCH = 1000;

export async function runLogsImport(io: Io, argv: string[]): Promise<number> {
  let file: string;
  let config: string | undefined;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { config: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
    if (positionals.length !== 1) throw usageError('logs import needs exactly one FILE');
    file = positionals[0] as string;
    config = values.config;
  } catch (err) {
    io.err(`acr-egress logs import: ${(err as Error).message}\nusage:\n${LOGS_IMPORT_USAGE}`);
    return EXIT.badInput;
  }
  let service: StoreService;
  try {
    const loaded = loadConfigFile(configPath(config));
    const audit = loaded.config.audit;
    if (audit.store === 'memory') {
      io.err('acr-egress logs import: audit.store is memory, which keeps nothing: set embedded or postgres');
      return 2;
    }
    service = await StoreService.open(
      audit,
      new DecisionStore(0),
      audit.instance ?? instanceName(),
      pino({ level: 'silent' }),
    );
  } catch (err) {
    return reportError(io, err, 2);
  }
  let read = 0;
  let skipped = 0;
  try {
    const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
    let batch: StoredRecord[] = [];
    for await (const line of lines) {
      const rec = parseDecisionLine(line.trim());
      if (rec === null) {
        if (line.trim() !== '') skipped++;
        continue;
      }
      batch.push(rec);
      read++;
      if (batch.length >= BATCH) {
        await service.store.write(batch);
        batch = [];
      }
    }
    await service.store.write(batch);
    await service.store.analyze?.();
  } catch (err) {
    await service.close().catch(() => undefined);
    return reportError(io, err, 1);
  }
  await service.close();
  io.out(`${file}: ${read} records loaded into the ${service.store.backend} store (already present ones skipped)`);
  if (skipped > 0) io.out(`${skipped} lines were not records and were skipped`);
  return 0;
}
