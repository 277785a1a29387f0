// A throw-away PKI for the fake API server, made with the openssl CLI at test
// time (node:crypto makes keys but not certificates): a CA, a serving
// certificate for 127.0.0.1/::1/localhost, and client certificates whose
// subject carries the Kubernetes user (CN) and groups (O), as the real API
// server reads them.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, which } from '../run.js';

export interface KeyPair {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface Pki {
  dir: string;
  ca: KeyPair;
  server: KeyPair;
  /** Makes a client certificate for `user` in `groups`, signed by the CA (or by `signer`). */
  client(user: string, groups?: readonly string[], signer?: KeyPair): Promise<KeyPair>;
  /** A second, unrelated CA: certificates it signs must be refused. */
  otherCa(): Promise<KeyPair>;
  remove(): Promise<void>;
}

const DAYS = '2';
const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** "/CN=x/O=a/O=b" with the characters openssl's -subj treats specially escaped. */
function subject(cn: string, orgs: readonly string[] = []): string {
  const esc = (s: string): string => s.replace(/[\\/+=,]/g, (c) => `\\${c}`);
  return [`/CN=${esc(cn)}`, ...orgs.map((o) => `/O=${esc(o)}`)].join('');
}

async function selfSigned(openssl: string, dir: string, name: string, cn: string): Promise<KeyPair> {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  await run(openssl, [
    'req',
    '-x509',
    ...KEY_ARGS,
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    DAYS,
    '-subj',
    subject(cn),
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { keyFile, certFile, key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8') };
}

let serial = 1000;

async function signed(openssl: string, dir: string, name: string, subj: string, ext: string, ca: KeyPair): Promise<KeyPair> {
  const keyFile = join(dir, `${name}.key`);
  const csrFile = join(dir, `${name}.csr`);
  const certFile = join(dir, `${name}.crt`);
  const extFile = join(dir, `${name}.ext`);
  await run(openssl, ['req', '-new', ...KEY_ARGS, '-keyout', keyFile, '-out', csrFile, '-subj', subj]);
  await writeFile(extFile, ext);
  await run(openssl, [
    'x509',
    '-req',
    '-in',
    csrFile,
    '-CA',
    ca.certFile,
    '-CAkey',
    ca.keyFile,
    '-set_serial',
    String(serial++),
    '-out',
    certFile,
    '-days',
    DAYS,
    '-extfile',
    extFile,
  ]);
  return { keyFile, certFile, key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8') };
}

/** Creates a CA and a serving certificate in a new temporary directory. */
export async function createPki(): Promise<Pki> {
  const openssl = which('openssl', 'openssl');
  const dir = await mkdtemp(join(tmpdir(), 'fake-kube-pki-'));
  try {
    const ca = await selfSigned(openssl, dir, 'ca', 'fake-kube-ca');
    const server = await signed(
      openssl,
      dir,
      'server',
      subject('kube-apiserver'),
      'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,DNS:kubernetes.default.svc\n',
      ca,
    );
    let clients = 0;
    let others = 0;
    return {
      dir,
      ca,
      server,
      client: (user, groups = [], signer = ca) =>
        signed(
          openssl,
          dir,
          `client-${++clients}`,
          subject(user, groups),
          'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n',
          signer,
        ),
      otherCa: () => selfSigned(openssl, dir, `other-ca-${++others}`, 'not-the-cluster-ca'),
      remove: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
