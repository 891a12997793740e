// The little the SQL store needs from a database driver, so that pg (a fleet) and node:sqlite
// (embedded, on its own thread) plug into one implementation.
export type Query = <T = Record<string, unknown>>(text: string, params?: readonly unknown[]) => Promise<T[]>;

export interface SqlClient {
  query: Query;
  /** Runs `fn` on one connection (advisory locks and transactions need one). */
  session<T>(fn: (query: Query) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
