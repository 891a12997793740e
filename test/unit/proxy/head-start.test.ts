// Bytes that cannot start an HTTP request are named at once, a TLS record with the HTTPS_PROXY hint.
import { describe, expect, it } from 'vitest';
import { headStartProblem, TLS_ON_PROXY_PORT } from '../../../src/proxy/request-head.js';

describe('headStartProblem', () => {
  it.each([
    ['a TLS record (0x16 0x03)', [0x16, 0x03, 0x01], TLS_ON_PROXY_PORT],
    ['a lone 0x16: waits for the next byte', [0x16], null],
    ['a NUL byte', [0x00, 0x41], 'bytes that cannot start an HTTP request (0x00)'],
    ['a method being typed', [...Buffer.from('CONN')], null],
    ['a method and a space', [...Buffer.from('CONNECT ')], null],
    ['leading empty lines, then a method', [...Buffer.from('\r\nGET')], null],
    ['a control byte in the method', [...Buffer.from('GE\x01')], 'bytes that cannot start an HTTP request (0x01)'],
  ])('%s', (_name, bytes, expected) => {
    expect(headStartProblem(Buffer.from(bytes))).toBe(expected);
  });
});
