// componentLog: a line carries `component` exactly once, however the loggers were derived.
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { componentLog, createOperationalLog } from '../../src/log.js';
import { duplicateKeys } from '../helpers/json-keys.js';

function capture(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  return { lines, stream };
}

describe('componentLog', () => {
  it('binds the component once, also when made from another component logger', () => {
    const { lines, stream } = capture();
    const gateway = componentLog(createOperationalLog('info', stream), 'gateway');
    const admin = componentLog(gateway, 'admin', { redact: ['token'] });
    gateway.info('a');
    admin.info({ token: 'secret' }, 'b');
    componentLog(admin, 'proxy').child({ id: 1 }).info('c');
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.map((l) => [l.component, l.msg])).toEqual([
      ['gateway', 'a'],
      ['admin', 'b'],
      ['proxy', 'c'],
    ]);
    expect(parsed[1]?.token).toBe('[Redacted]');
    expect(lines.flatMap(duplicateKeys)).toEqual([]);
  });

  it('keeps the component of a logger it did not make rather than adding a second', () => {
    const { lines, stream } = capture();
    const foreign = pino({ base: { component: 'host-app' } }, stream);
    componentLog(foreign, 'gateway').info('x');
    expect(lines.flatMap(duplicateKeys)).toEqual([]);
    expect(JSON.parse(lines[0]!)).toMatchObject({ component: 'host-app', msg: 'x' });
  });
});

describe('createOperationalLog', () => {
  it('writes ISO times and level names, as the decision records do', () => {
    const { lines, stream } = capture();
    const log = componentLog(createOperationalLog('info', stream), 'gateway');
    log.warn('w');
    log.child({ id: 1 }).error('e');
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.map((l) => l.level)).toEqual(['warn', 'error']);
    for (const l of parsed) {
      expect(l.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(new Date(l.time as string).toISOString()).toBe(l.time);
    }
  });
});
