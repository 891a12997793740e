// Hop-by-hop and proxy headers are consumed, with every name Connection lists; framing stays.
import { describe, expect, it } from 'vitest';
import { stripHopByHop } from '../../../src/net/hop-by-hop.js';

describe('stripHopByHop', () => {
  it.each([
    ['removes the proxy credentials', { 'proxy-authorization': 'Basic x', accept: '*/*' }, { accept: '*/*' }],
    ['removes Proxy-Connection and Keep-Alive', { 'proxy-connection': 'keep-alive', 'keep-alive': 'timeout=5' }, {}],
    ['removes TE, Trailer and Upgrade', { te: 'trailers', trailer: 'x', upgrade: 'h2c' }, {}],
    ['removes every name Connection lists', { connection: 'close, X-Hop ,x-other', 'x-hop': '1', 'x-other': '2' }, {}],
    [
      'keeps what framing needs even when Connection lists it',
      { connection: 'content-length, host', 'content-length': '4', host: 'h' },
      { 'content-length': '4', host: 'h' },
    ],
  ])('%s', (_name, headers: Record<string, string>, expected) => {
    const copy = { ...headers };
    stripHopByHop(copy);
    expect(copy).toEqual(expected);
  });
});
