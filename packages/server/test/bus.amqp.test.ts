/** EventBus over AMQP (RabbitMQ); the drop test resets its connection in a TCP proxy. */
import { describe } from 'vitest';
import { amqpAvailable, amqpUrl } from '../../../test/services.js';
import { registerBusTests } from './bus-conformance.js';

describe.skipIf(!(await amqpAvailable()))('AMQP bus', () => {
  registerBusTests({ label: 'AMQP', url: amqpUrl, port: 5672, unreachableUrl: 'amqp://guest:guest@127.0.0.1:1' });
});
