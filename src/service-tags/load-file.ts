// Reads a service-tag file from disk and indexes it; errors name the file.

import { readFile } from 'node:fs/promises';
import { AcrEgressError, isAcrEgressError } from '../errors.js';
import { buildServiceTagIndex } from './index.js';
import { parseServiceTags } from './parse.js';
import type { ServiceTagIndex, ServiceTagsFile } from './types.js';

export async function loadServiceTagsFile(path: string): Promise<{ file: ServiceTagsFile; index: ServiceTagIndex }> {
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new AcrEgressError('SERVICE_TAGS_UNREADABLE', `cannot read service-tag file ${path}: ${reason}`, {
      cause: err,
    });
  }
  try {
    const file = parseServiceTags(raw);
    return { file, index: buildServiceTagIndex(file) };
  } catch (err) {
    if (!isAcrEgressError(err)) throw err;
    throw new AcrEgressError(err.code, `${path}: ${err.message}`, { details: err.details, cause: err });
  }
}
