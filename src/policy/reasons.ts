// The fixed reason codes a decision can carry; the table itself is in the one error registry.
import { REASONS, type Reason } from '../errors.js';

export { REASONS, type Reason };

export const REASON_CODES = Object.keys(REASONS) as Reason[];

export function isReason(value: string): value is Reason {
  return Object.hasOwn(REASONS, value);
}
