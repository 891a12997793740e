// The admin log keeps a URL's path and parameter names, never a parameter's value.
import { describe, expect, it } from 'vitest';
import { logUrl } from '../../../src/admin/log-url.js';

describe('logUrl', () => {
  it.each([
    ['/api/v1/logs', '/api/v1/logs'],
    ['/api/v1/logs?token=secret', '/api/v1/logs?token='],
    ['/api/v1/logs?limit=5&token=secret&host=a.example', '/api/v1/logs?limit=&token=&host='],
    ['/x?flag&sig=abc%3D%3D', '/x?flag=&sig='],
    ['/x?', '/x?'],
    ['/x?&&a=1', '/x?a='],
  ])('%s is logged as %s', (url, expected) => {
    expect(logUrl(url)).toBe(expected);
  });

  it('cuts a very long path to 300 characters', () => {
    expect(logUrl(`/${'a'.repeat(400)}?t=secret`)).toHaveLength(300);
  });
});
