// Rebuilds the recent-decisions store at start from the end of the audit log, so a restart does not
// empty the admin API: reads the file backwards in chunks and keeps the last `max` decision records.
import { open } from 'node:fs/promises';
import type { DecisionRecord, RecentRecords } from './record.js';

const CHUNK_BYTES = 256 * 1024;
/** A longer "line" is not a record the gateway wrote; skipping it bounds the memory a bad file takes. */
const MAX_LINE_BYTES = 1024 * 1024;

export interface RebuildResult {
  /** Records added to the store. */
  added: number;
  /** Lines read that were not decision records (malformed, operational log lines, truncated). */
  skipped: number;
}

/** The decision record in one audit-log line, or null when the line is anything else. */
export function parseDecisionLine(line: string): DecisionRecord | null {
  if (line.length === 0 || line[0] !== '{') return null;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const v = value as Record<string, unknown>;
  // Lines from the audit log carry kind "decision" (or "request" for an inspected request); other
  // lines sharing the stream carry neither.
  if (v.kind !== undefined && v.kind !== 'decision' && v.kind !== 'request') return null;
  if (typeof v.id !== 'string' || typeof v.time !== 'string' || Number.isNaN(Date.parse(v.time))) return null;
  if (v.decision !== 'allowed' && v.decision !== 'blocked') return null;
  if (typeof v.mode !== 'string') return null;
  const { kind, ...record } = v;
  if (kind === 'request') record.kind = kind;
  for (const key of [
    'client',
    'host',
    'port',
    'sni',
    'ip',
    'reason',
    'rule',
    'tag',
    'bytesUp',
    'bytesDown',
    'durationMs',
  ]) {
    if (!(key in record)) record[key] = null;
  }
  return record as unknown as DecisionRecord;
}

/**
 * Adds the last `max` decision records of `file` to `store`, oldest first. A missing file adds
 * nothing; malformed lines and lines that are not decision records are skipped, never fatal.
 */
export async function rebuildFromLog(
  store: RecentRecords,
  file: string,
  max: number = store.capacity,
): Promise<RebuildResult> {
  const want = Math.min(max, store.capacity);
  const result: RebuildResult = { added: 0, skipped: 0 };
  if (want <= 0) return result;
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return result;
    throw err;
  }
  const found: DecisionRecord[] = []; // newest first
  try {
    let pos = (await handle.stat()).size;
    let carry: Buffer = Buffer.alloc(0); // the start of a line whose beginning is in an earlier chunk
    let carryTooLong = false;
    const take = (line: Buffer): void => {
      const rec = line.length > 0 ? parseDecisionLine(line.toString('utf8').trim()) : null;
      if (rec !== null) found.push(rec);
      else if (line.length > 0) result.skipped++;
    };
    while (pos > 0 && found.length < want) {
      const size = Math.min(CHUNK_BYTES, pos);
      pos -= size;
      const chunk = Buffer.allocUnsafe(size);
      await handle.read(chunk, 0, size, pos);
      let end = size;
      for (
        let i = chunk.lastIndexOf(0x0a, size - 1);
        i >= 0 && found.length < want;
        i = i > 0 ? chunk.lastIndexOf(0x0a, i - 1) : -1
      ) {
        const line =
          carry.length === 0 ? chunk.subarray(i + 1, end) : Buffer.concat([chunk.subarray(i + 1, end), carry]);
        if (!carryTooLong) take(line);
        else result.skipped++;
        carry = Buffer.alloc(0);
        carryTooLong = false;
        end = i;
      }
      if (found.length >= want) break;
      if (!carryTooLong) {
        carry = Buffer.concat([chunk.subarray(0, end), carry]);
        if (carry.length > MAX_LINE_BYTES) {
          carryTooLong = true;
          carry = Buffer.alloc(0);
        }
      }
    }
    if (pos === 0 && found.length < want && carry.length > 0 && !carryTooLong) take(carry);
  } finally {
    await handle.close();
  }
  for (let i = found.length - 1; i >= 0; i--) store.add(found[i] as DecisionRecord);
  result.added = found.length;
  return result;
}
