/** The connection of an HttpKubeClient to a plain-HTTP server the test listens with on 127.0.0.1. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Connection } from '../../../src/kube/connect.js';

export function localConnection(server: Server): Connection {
  return {
    contextName: 'local',
    source: 'test',
    server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    namespace: 'default',
    insecureSkipTlsVerify: false,
    requestTimeoutMs: 0,
    connectTimeoutMs: 10_000,
  };
}
