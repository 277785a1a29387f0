// A stand-in for systemd's notification socket. Node cannot receive AF_UNIX
// datagrams, so a tiny python3 process binds the socket (a path, or an
// abstract "@name") and prints each datagram as one JSON string per line.
import type { TeardownHost } from './netns.js';
import { which } from './run.js';
import { spawnService, type Service } from './service.js';

const RECEIVER = `
import json, socket, sys
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\\0' + addr[1:] if addr.startswith('@') else addr)
print('LISTENING', flush=True)
while True:
    print(json.dumps(s.recv(65536).decode('utf-8', 'replace')), flush=True)
`;

export interface NotifyReceiver {
  /** The NOTIFY_SOCKET value. */
  address: string;
  /** Datagrams received so far. */
  messages: string[];
  /** Resolves with the first datagram (received from now on or before) containing `assignment`, e.g. "READY=1". */
  waitFor(assignment: string, timeoutMs?: number): Promise<string>;
  service: Service;
  stop(): Promise<void>;
}

const hasAssignment = (message: string, assignment: string): boolean => message.split('\n').includes(assignment);

export async function startNotifyReceiver(address: string, t?: TeardownHost): Promise<NotifyReceiver> {
  const messages: string[] = [];
  const waiters: Array<{ assignment: string; resolve: (m: string) => void }> = [];
  let onListening: () => void = () => undefined;
  const listening = new Promise<void>((resolve) => (onListening = resolve));
  const python = which('python3', 'python3');
  const service = spawnService(python, ['-c', RECEIVER, address], {
    onLine: (line) => {
      if (line === 'LISTENING') {
        onListening();
        return;
      }
      const m = JSON.parse(line) as string;
      messages.push(m);
      for (const w of [...waiters]) {
        if (hasAssignment(m, w.assignment)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    },
  });
  const stop = async (): Promise<void> => {
    await service.stop();
  };
  t?.teardown(stop);
  await Promise.race([
    listening,
    service.exited.then(() => {
      throw new Error(`notify receiver exited: ${service.stderr()}`);
    }),
  ]);
  return {
    address,
    messages,
    service,
    stop,
    waitFor(assignment, timeoutMs = 15_000) {
      const seen = messages.find((m) => hasAssignment(m, assignment));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${assignment} within ${timeoutMs} ms; got ${JSON.stringify(messages)}`)), timeoutMs);
        waiters.push({
          assignment,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
        });
      });
    },
  };
}
