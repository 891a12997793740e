// Which client a password check is charged to: the IPv4 address, or the /64 of an IPv6 one, since a
// single host usually holds a whole /64 and could otherwise spread a flood over its addresses.
import { readIp } from '../net/ip.js';

const words = new Uint32Array(4);

export function clientKey(client: string | null): string {
  if (client === null) return '';
  const family = readIp(client, words);
  if (family === 4) return client;
  if (family === 6) return `${words[0]!.toString(16)}:${words[1]!.toString(16)}::/64`;
  return client;
}
