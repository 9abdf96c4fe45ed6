import type { ServerLimits } from '@syncline/protocol';
import type { Config } from '../config/options.js';

/** What clients are told the server takes in one request (`/sync` event `limits`, `GET /health`). */
export function serverLimits(config: Config): ServerLimits {
  return { bodyLimit: config.bodyLimit, socketMaxMessageBytes: config.socketMaxMessageBytes, maxOperations: config.maxOperations };
}
