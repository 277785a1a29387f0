// A stand-alone HttpServer (src/http/server.ts) with a stand-in app, for tests
// that must count the server's own file descriptors (/proc/<pid>/fd) apart
// from their clients'. Usage (from the repository root, through the TypeScript
// loader tap uses):
//   node dist/test/support/http-limits-server.js '<HttpLimits JSON>'
// Prints "READY <port>" once listening on 127.0.0.1; exits on SIGTERM or when stdin closes.
import { createHandler, type HttpApp } from '../../src/http/routes.js';
import { HttpServer, type HttpLimits } from '../../src/http/server.js';

const limits = JSON.parse(process.argv[2] ?? '{}') as Partial<HttpLimits>;
const app: HttpApp = {
  metrics: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: 'x 1\n' }),
  health: () => ({ healthy: true, status: 200, reason: 'ok: stand-in', checks: 1, unhealthy: 0 }),
  status: () => ({}),
};
const server = new HttpServer(createHandler(app), limits);
const bound = await server.listen('127.0.0.1:0');
process.stdout.write(`READY ${bound.port}\n`);
const stop = (): void => {
  void server.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop).resume();
