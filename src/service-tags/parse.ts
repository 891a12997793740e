// Turns the text of a service-tag file into a checked ServiceTagsFile, reporting every problem
// with its JSON path so a bad download is rejected before it can replace the ranges in use.

import { AcrEgressError } from '../errors.js';
import { isValidPrefix } from './range-set.js';
import type { ServiceTagsFile } from './types.js';

const MAX_PROBLEMS = 20;

export function parseServiceTags(text: string | Buffer): ServiceTagsFile {
  let source = typeof text === 'string' ? text : text.toString('utf8');
  // Files saved by Windows tools start with a BOM, which JSON.parse refuses.
  if (source.charCodeAt(0) === 0xfeff) source = source.slice(1);
  const root = parseJson(source);
  const problems = new Problems();
  checkFile(root, problems);
  problems.throwIfAny();
  return root as ServiceTagsFile;
}

function parseJson(source: string): unknown {
  if (source.trim() === '') throw new AcrEgressError('SERVICE_TAGS_INVALID', 'service-tag file is empty');
  try {
    return JSON.parse(source);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    const stated = /at position (\d+)/.exec(reason);
    const at = stated ? Number(stated[1]) : /end of JSON input/.test(reason) ? source.length : locateJsonError(source);
    const where = at < 0 ? '' : ` at ${lineColumn(source, at)} (position ${at})`;
    const hint = at >= source.length ? ' (the file ends early: truncated download?)' : '';
    throw new AcrEgressError('SERVICE_TAGS_INVALID', `service-tag file is not valid JSON${where}${hint}: ${reason}`, {
      cause: err,
    });
  }
}

function lineColumn(source: string, at: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = source.indexOf('\n'); i >= 0 && i < at; i = source.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return `line ${line}, column ${at - lineStart + 1}`;
}

/** Thrown by locateJsonError's scanner to unwind to its caller with the offset; never escapes. */
class JsonSyntaxAt extends Error {
  constructor(readonly offset: number) {
    super('JSON syntax error');
  }
}

/**
 * Offset of the first syntax error, for the JSON.parse messages that do not state one
 * ("Unexpected token 'x'"). Only runs on the error path; -1 when it cannot tell.
 */
function locateJsonError(t: string): number {
  let i = 0;
  const fail = (): never => {
    throw new JsonSyntaxAt(i);
  };
  const ws = () => {
    while (i < t.length && ' \t\n\r'.includes(t[i]!)) i++;
  };
  const string = () => {
    for (i++; ;) {
      const c = t.charCodeAt(i);
      if (i >= t.length || c < 32) fail();
      if (c === 34) return void i++;
      if (c !== 92) i++;
      else if ('"\\/bfnrt'.includes(t[i + 1] ?? '')) i += 2;
      else if (t[i + 1] === 'u' && /^[0-9a-fA-F]{4}$/.test(t.slice(i + 2, i + 6))) i += 6;
      else fail();
    }
  };
  const list = (close: string, item: () => void) => {
    i++;
    ws();
    if (t[i] === close) return void i++;
    for (;;) {
      item();
      ws();
      if (t[i] === close) return void i++;
      if (t[i] !== ',') fail();
      i++;
    }
  };
  const value = (): void => {
    ws();
    const c = t[i];
    if (c === '{') {
      return list('}', () => {
        ws();
        if (t[i] !== '"') fail();
        string();
        ws();
        if (t[i] !== ':') fail();
        i++;
        value();
      });
    }
    if (c === '[') return list(']', value);
    if (c === '"') return string();
    const number = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
    number.lastIndex = i;
    if (number.exec(t)) return void (i = number.lastIndex);
    const literal = ['true', 'false', 'null'].find((word) => t.startsWith(word, i));
    if (literal === undefined) fail();
    i += literal!.length;
  };
  try {
    value();
    ws();
    return i < t.length ? i : -1;
  } catch (err) {
    return err instanceof JsonSyntaxAt ? err.offset : -1; // RangeError on absurd nesting: position unknown
  }
}

class Problems {
  readonly #list: string[] = [];
  #total = 0;

  add(path: string, message: string): void {
    this.#total++;
    if (this.#list.length < MAX_PROBLEMS) this.#list.push(`${path}: ${message}`);
  }

  throwIfAny(): void {
    if (this.#total === 0) return;
    const more = this.#total > 1 ? ` (and ${this.#total - 1} more problem${this.#total > 2 ? 's' : ''})` : '';
    const unlisted = this.#total - this.#list.length;
    const cut = unlisted > 0 ? [`... and ${unlisted} more not listed`] : [];
    throw new AcrEgressError('SERVICE_TAGS_INVALID', `service-tag file is invalid: ${this.#list[0]}${more}`, {
      details: [...this.#list, ...cut],
    });
  }
}

const show = (v: unknown): string => {
  if (Array.isArray(v)) return 'an array';
  if (v === null || typeof v === 'object') return v === null ? 'null' : 'an object';
  const text = JSON.stringify(v) ?? typeof v; // undefined (a missing key): JSON has no text for it
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;

function checkFile(root: unknown, problems: Problems): void {
  if (!isObject(root)) return problems.add('(root)', `expected an object, got ${show(root)}`);
  if (!isCount(root.changeNumber))
    problems.add('changeNumber', `expected a non-negative integer, got ${show(root.changeNumber)}`);
  if (typeof root.cloud !== 'string' || root.cloud === '')
    problems.add('cloud', `expected a non-empty string, got ${show(root.cloud)}`);
  if (!Array.isArray(root.values)) return problems.add('values', `expected an array, got ${show(root.values)}`);
  const seen = new Map<string, number>();
  for (let i = 0; i < root.values.length; i++) {
    const path = `values[${i}]`;
    const value: unknown = root.values[i];
    if (!isObject(value)) {
      problems.add(path, `expected an object, got ${show(value)}`);
      continue;
    }
    if (typeof value.name !== 'string' || value.name === '') {
      problems.add(`${path}.name`, `expected a non-empty string, got ${show(value.name)}`);
    } else if (seen.has(value.name)) {
      problems.add(`${path}.name`, `${show(value.name)} repeats values[${seen.get(value.name)}].name`);
    } else {
      seen.set(value.name, i);
    }
    if (typeof value.id !== 'string') problems.add(`${path}.id`, `expected a string, got ${show(value.id)}`);
    checkProperties(value.properties, `${path}.properties`, problems);
  }
}

function checkProperties(p: unknown, path: string, problems: Problems): void {
  if (!isObject(p)) return problems.add(path, `expected an object, got ${show(p)}`);
  if (!isCount(p.changeNumber))
    problems.add(`${path}.changeNumber`, `expected a non-negative integer, got ${show(p.changeNumber)}`);
  for (const key of ['region', 'systemService'] as const) {
    if (typeof p[key] !== 'string')
      problems.add(`${path}.${key}`, `expected a string (may be empty), got ${show(p[key])}`);
  }
  if (p.platform !== undefined && typeof p.platform !== 'string') {
    problems.add(`${path}.platform`, `expected a string, got ${show(p.platform)}`);
  }
  if (p.regionId !== undefined && !isCount(p.regionId)) {
    problems.add(`${path}.regionId`, `expected a non-negative integer, got ${show(p.regionId)}`);
  }
  const features = p.networkFeatures;
  if (features != null && !(Array.isArray(features) && features.every((f) => typeof f === 'string'))) {
    problems.add(`${path}.networkFeatures`, `expected null or an array of strings, got ${show(features)}`);
  }
  const prefixes = p.addressPrefixes;
  if (!Array.isArray(prefixes))
    return problems.add(`${path}.addressPrefixes`, `expected an array, got ${show(prefixes)}`);
  for (let j = 0; j < prefixes.length; j++) {
    const prefix: unknown = prefixes[j];
    if (!(typeof prefix === 'string' && isValidPrefix(prefix))) {
      problems.add(`${path}.addressPrefixes[${j}]`, `${show(prefixes[j])} is not a valid IPv4 or IPv6 prefix`);
    }
  }
}
