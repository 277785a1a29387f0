// A throwaway PKI for TLS tests, made with openssl in a directory of the
// test's own: a CA, two server certificates for 127.0.0.1 (the second one to
// rotate to), a client certificate the CA signed, and a self-signed client
// certificate no configured CA trusts. EC P-256 keys: fast to make.
import fs from 'node:fs';
import path from 'node:path';
import { run } from './run.js';

export interface TestPki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  /** Another certificate for 127.0.0.1 (same CA, another key and serial): what rotation installs. */
  server2Cert: string;
  server2Key: string;
  /** Signed by the CA; SANs DNS:scraper.test and URI:spiffe://test/prometheus. */
  clientCert: string;
  clientKey: string;
  /** Self-signed: no configured CA trusts it. */
  strangerCert: string;
  strangerKey: string;
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function signed(dir: string, name: string, cn: string, san: string, ca: { cert: string; key: string }): Promise<{ cert: string; key: string }> {
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const cert = path.join(dir, `${name}.crt`);
  const ext = path.join(dir, `${name}.ext`);
  fs.writeFileSync(ext, `subjectAltName=${san}\n`);
  await run('openssl', ['req', ...KEY, '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`]);
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
  return { cert, key };
}

/** Makes the PKI in `dir` (which must exist). */
export async function makePki(dir: string): Promise<TestPki> {
  const caKey = path.join(dir, 'ca.key');
  const caCert = path.join(dir, 'ca.crt');
  await run('openssl', ['req', '-x509', ...KEY, '-keyout', caKey, '-out', caCert, '-days', '2', '-subj', '/CN=coredns-healthd test CA']);
  const ca = { cert: caCert, key: caKey };
  const server = await signed(dir, 'server', 'localhost', 'IP:127.0.0.1,DNS:localhost', ca);
  const server2 = await signed(dir, 'server2', 'localhost', 'IP:127.0.0.1,DNS:localhost', ca);
  const client = await signed(dir, 'client', 'scraper', 'DNS:scraper.test,URI:spiffe://test/prometheus', ca);
  const strangerKey = path.join(dir, 'stranger.key');
  const strangerCert = path.join(dir, 'stranger.crt');
  await run('openssl', [
    'req',
    '-x509',
    ...KEY,
    '-keyout',
    strangerKey,
    '-out',
    strangerCert,
    '-days',
    '2',
    '-subj',
    '/CN=stranger',
    '-addext',
    'subjectAltName=DNS:scraper.test',
  ]);
  return {
    dir,
    caCert,
    caKey,
    serverCert: server.cert,
    serverKey: server.key,
    server2Cert: server2.cert,
    server2Key: server2.key,
    clientCert: client.cert,
    clientKey: client.key,
    strangerCert,
    strangerKey,
  };
}
