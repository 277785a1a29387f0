// The bcrypt worker thread (./basic-auth.ts starts it): computes bcrypt of a
// password with the cost and salt of a stored hash, off the event loop. It
// returns the computed hash; the comparison happens in the main thread, in
// constant time. One message at a time, in order.
import { parentPort } from 'node:worker_threads';
import bcrypt from 'bcryptjs';

export interface BcryptRequest {
  id: number;
  password: string;
  /** The stored hash: its version, cost and salt are used. */
  hash: string;
}

export interface BcryptReply {
  id: number;
  /** bcrypt(password) with the stored hash's salt and cost; null when the stored hash is unusable. */
  hash: string | null;
}

parentPort?.on('message', (m: BcryptRequest) => {
  let hash: string | null;
  try {
    hash = bcrypt.hashSync(m.password, m.hash);
  } catch {
    hash = null;
  }
  parentPort?.postMessage({ id: m.id, hash } satisfies BcryptReply);
});
