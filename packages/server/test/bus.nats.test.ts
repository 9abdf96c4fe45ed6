/** EventBus over NATS; the drop test resets its connection in a TCP proxy. */
import { describe } from 'vitest';
import { natsAvailable, natsUrl } from '../../../test/services.js';
import { registerBusTests } from './bus-conformance.js';

describe.skipIf(!(await natsAvailable()))('NATS bus', () => {
  registerBusTests({ label: 'NATS', url: natsUrl, port: 4222, unreachableUrl: 'nats://127.0.0.1:1' });
});
