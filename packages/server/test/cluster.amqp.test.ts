import { amqpAvailable, amqpUrl } from '../../../test/services.js';
import { registerClusterTests } from './cluster-suite.js';

registerClusterTests('RabbitMQ', { url: amqpUrl, defaultPort: 5672, available: amqpAvailable });
