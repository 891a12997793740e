// bcrypt for htpasswd lines (`htpasswd -B`), on one worker thread. bcryptjs is pure JavaScript (a
// native bcrypt needs prebuilt downloads) and a check at cost 10 takes 50 to 200 ms of CPU: on the
// event loop it would stall every tunnel of the gateway for that long.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

// A plain script rather than a module file, so it runs the same from src/ (tsx, vitest) and dist/.
// It loads bcryptjs's CommonJS build from the path resolved here and hashes with the stored salt;
// the comparison stays with the caller (timingSafeEqual).
const SCRIPT = `
const { parentPort, workerData } = require('node:worker_threads');
const bcrypt = require(workerData.bcryptjs);
parentPort.on('message', ({ id, password, salt }) => {
  let hash = null;
  try { hash = bcrypt.hashSync(password, salt); } catch {}
  parentPort.postMessage({ id, hash });
});`;

const BCRYPTJS = createRequire(import.meta.url).resolve('bcryptjs');

let worker: Worker | null = null;
let nextId = 0;
const pending = new Map<number, (hash: string | null) => void>();

function settleAll(): void {
  worker = null;
  for (const resolve of pending.values()) resolve(null);
  pending.clear();
}

function start(): Worker {
  const w = new Worker(SCRIPT, { eval: true, workerData: { bcryptjs: BCRYPTJS } });
  w.on('message', ({ id, hash }: { id: number; hash: string | null }) => {
    pending.get(id)?.(hash);
    pending.delete(id);
    // An idle worker must not keep the process alive.
    if (pending.size === 0) w.unref();
  });
  // A dead worker refuses what it had; the next check starts a new one.
  w.on('error', () => undefined);
  w.on('exit', () => {
    if (worker === w) settleAll();
  });
  return w;
}

/** The bcrypt hash of password with the salt (and cost) of a stored hash; null if it cannot be made. */
export function bcryptHash(password: string, salt: string): Promise<string | null> {
  worker ??= start();
  worker.ref();
  const id = nextId++;
  const w = worker;
  return new Promise((resolve) => {
    pending.set(id, resolve);
    w.postMessage({ id, password, salt });
  });
}

/** Ends the worker (its pending checks answer null); for tests and shutdown. */
export async function stopBcryptWorker(): Promise<void> {
  const w = worker;
  if (w === null) return;
  settleAll();
  await w.terminate();
}
