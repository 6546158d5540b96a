/**
 * The exec credential plugin protocol as client-go runs it (k8s.io/client-go/plugin/pkg/client/auth/exec):
 * apiVersion v1 or v1beta1, interactiveMode (v1 requires it), KUBERNETES_EXEC_INFO with the cluster when
 * provideClusterInfo is set, the plugin's stderr passed through, the credential cached until its
 * expirationTimestamp (for the whole run when it has none) and dropped after a 401.
 *
 * Why not @kubernetes/client-node's ExecAuth (1.4.0): it sends no KUBERNETES_EXEC_INFO, ignores interactiveMode
 * and apiVersion, swallows the plugin's stderr into an error message, and re-runs the plugin on every request when
 * the credential has no expiry.
 */
import { spawn } from 'node:child_process';
import { ConnectionError, RefusedError } from '../errors.js';
import type { ClusterEntry, ExecConfig } from './kubeconfig.js';

/** Terminal escape sequences, dropped from installHint as client-go does (cleanANSIEscapeCodes). */
const ANSI_ESCAPE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*[A-Za-z]`, 'g');

const API_VERSIONS = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'];

export interface ExecCredentialStatus {
  token?: string;
  clientCertificateData?: string;
  clientKeyData?: string;
  expirationTimestamp?: string;
}

export interface ExecPluginOptions {
  exec: ExecConfig;
  /** Where the user was defined, for messages. */
  where: string;
  cluster: ClusterEntry & { server: string };
  env: NodeJS.ProcessEnv;
  stdinIsTerminal: boolean;
  stderr?: NodeJS.WritableStream;
}

/** Checks the exec section before anything runs (kubectl refuses the same configurations). */
export function checkExecConfig(exec: ExecConfig, where: string): void {
  const bad = (what: string) =>
    new RefusedError(`${where}: exec ${what}`, 'fix the exec section of the kubeconfig (kubectl rejects it too)');
  if (!exec.command) throw bad('has no command');
  if (!exec.apiVersion || !API_VERSIONS.includes(exec.apiVersion))
    throw bad(`apiVersion must be one of ${API_VERSIONS.join(', ')}`);
  const mode = exec.interactiveMode;
  if (mode !== undefined && mode !== '' && !['Never', 'IfAvailable', 'Always'].includes(mode))
    throw bad('interactiveMode must be Never, IfAvailable or Always');
  if (exec.apiVersion === 'client.authentication.k8s.io/v1' && !mode)
    throw bad('interactiveMode must be set for apiVersion client.authentication.k8s.io/v1');
}

/** Runs the plugin when no unexpired credential is cached. */
export class ExecCredentialPlugin {
  private cached: ExecCredentialStatus | undefined;
  private running: Promise<ExecCredentialStatus> | undefined;

  constructor(private readonly o: ExecPluginOptions) {
    checkExecConfig(o.exec, o.where);
  }

  private get name(): string {
    return JSON.stringify(this.o.exec.command);
  }

  async credential(): Promise<ExecCredentialStatus> {
    const c = this.cached;
    if (c && (!c.expirationTimestamp || Date.parse(c.expirationTimestamp) > Date.now())) return c;
    this.running ??= this.run().finally(() => (this.running = undefined));
    this.cached = await this.running;
    return this.cached;
  }

  /** The API server rejected the credential: run the plugin again next time (client-go does the same). */
  invalidate(): void {
    this.cached = undefined;
  }

  private fail(what: string, hint?: string): ConnectionError {
    const install = this.o.exec.installHint ? ` ${this.o.exec.installHint.replace(ANSI_ESCAPE, '')}` : '';
    return new ConnectionError(
      `${this.o.where}: the exec credential plugin ${this.name} ${what}`,
      hint ?? `run the plugin by hand to see its error, and log in again if it asks you to${install}`,
    );
  }

  private run(): Promise<ExecCredentialStatus> {
    const { exec } = this.o;
    const mode = exec.interactiveMode || 'IfAvailable';
    if (mode === 'Always' && !this.o.stdinIsTerminal)
      return Promise.reject(
        this.fail(
          'needs a terminal (interactiveMode: Always) and standard input is not one',
          'run the command from a terminal, or log in with the plugin first',
        ),
      );
    const interactive = mode !== 'Never' && this.o.stdinIsTerminal;
    const cl = this.o.cluster;
    const info = {
      apiVersion: exec.apiVersion,
      kind: 'ExecCredential',
      spec: {
        interactive,
        ...(exec.provideClusterInfo
          ? {
              cluster: {
                server: cl.server,
                ...(cl['tls-server-name'] ? { 'tls-server-name': cl['tls-server-name'] } : {}),
                ...(cl['insecure-skip-tls-verify'] ? { 'insecure-skip-tls-verify': true } : {}),
                ...(cl['certificate-authority-data']
                  ? { 'certificate-authority-data': cl['certificate-authority-data'] }
                  : {}),
                ...(cl['proxy-url'] ? { 'proxy-url': cl['proxy-url'] } : {}),
                ...(cl['disable-compression'] ? { 'disable-compression': true } : {}),
                ...execExtension(cl),
              },
            }
          : {}),
      },
    };
    const env: NodeJS.ProcessEnv = { ...this.o.env };
    for (const e of exec.env ?? []) env[e.name] = e.value;
    env.KUBERNETES_EXEC_INFO = JSON.stringify(info);
    return new Promise((resolve, reject) => {
      const child = spawn(exec.command, exec.args ?? [], {
        env,
        stdio: [interactive ? 'inherit' : 'ignore', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      // kubectl shows the plugin's own messages (login prompts, errors) as they come.
      child.stderr.on('data', (b: Buffer) => (this.o.stderr ?? process.stderr).write(b));
      child.on('error', (e: NodeJS.ErrnoException) => {
        reject(
          this.fail(
            e.code === 'ENOENT' ? 'was not found' : `could not be started (${e.code ?? 'unknown error'})`,
            exec.installHint
              ? exec.installHint.replace(ANSI_ESCAPE, '')
              : 'install it or fix exec.command in the kubeconfig',
          ),
        );
      });
      child.on('close', (code, signal) => {
        if (code !== 0) {
          reject(this.fail(signal ? `was killed by ${signal}` : `exited with code ${code ?? 'unknown'}`));
          return;
        }
        try {
          resolve(this.parse(Buffer.concat(out).toString('utf8')));
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  private parse(text: string): ExecCredentialStatus {
    let obj: { apiVersion?: unknown; kind?: unknown; status?: ExecCredentialStatus };
    try {
      obj = JSON.parse(text) as typeof obj;
    } catch {
      // The output is not shown: it may be a credential.
      throw this.fail('printed something that is not an ExecCredential JSON object');
    }
    if (obj?.apiVersion !== this.o.exec.apiVersion)
      throw this.fail(
        `returned apiVersion ${JSON.stringify(obj?.apiVersion ?? '')}, ` +
          `but the kubeconfig asks for ${this.o.exec.apiVersion}`,
      );
    const s = obj.status;
    if (!s || typeof s !== 'object') throw this.fail('returned no status');
    const hasCert = Boolean(s.clientCertificateData) || Boolean(s.clientKeyData);
    if (hasCert && !(s.clientCertificateData && s.clientKeyData))
      throw this.fail('returned a client certificate without its key, or a key without its certificate');
    if (!s.token && !hasCert) throw this.fail('returned neither a token nor a client certificate and key');
    if (s.expirationTimestamp !== undefined && Number.isNaN(Date.parse(s.expirationTimestamp)))
      throw this.fail('returned an expirationTimestamp that is not a time');
    return s;
  }
}

function execExtension(cl: ClusterEntry): { config?: unknown } {
  const ext = cl.extensions?.find((e) => e?.name === 'client.authentication.k8s.io/exec');
  return ext ? { config: ext.extension } : {};
}
